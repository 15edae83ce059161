"""The model zoo: one module per family, each registering its specs. No torch here."""

from archscope.zoo import alexnet, lenet, resnet, vgg  # noqa: F401  (registration)
from archscope.zoo.registry import REGISTRY, Reference, ZooEntry, get, names, torchvision_reference

__all__ = ["REGISTRY", "Reference", "ZooEntry", "get", "names", "torchvision_reference"]
