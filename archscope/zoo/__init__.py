"""The model zoo: one module per family, each registering its specs. No torch here."""

from archscope.zoo import (  # noqa: F401  (registration)
    alexnet,
    densenet,
    efficientnet,
    googlenet,
    inception,
    lenet,
    resnet,
    vgg,
)
from archscope.zoo.registry import REGISTRY, Reference, ZooEntry, get, names, torchvision_reference

__all__ = ["REGISTRY", "Reference", "ZooEntry", "get", "names", "torchvision_reference"]
