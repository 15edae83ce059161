"""LeNet-5, as the user's seed document defines it.

Paper: "Gradient-Based Learning Applied to Document Recognition", LeCun et al., 1998
(no arXiv id). Reference: ../shared/seeds/004_2c8779ce8a55b821.txt, class ``LeNet5``:
1×32×32 input, 10 outputs, ``F.relu`` after each convolution and none between the
fully connected layers (as the document's code has it).

# NOTE: the document applies ReLU functionally; archscope registers every spec leaf
# as a module (``relu1``, ``relu2``) so each step is traced. That adds two entries to
# ``print(model)`` and none to ``state_dict``.
"""

from __future__ import annotations

from archscope.spec.nodes import Act, Conv, Flatten, Linear, Model, Pool
from archscope.zoo.registry import E, register

SEED = "seed 004 (LeNet5)"


def lenet5() -> Model:
    return Model(name="lenet5", input=(1, 32, 32), label="LeNet5", layers=(
        Conv(name="conv1", out=6, kernel=5),
        Act(name="relu1"),
        Pool(name="max_pool_1", mode="max", kernel=2),
        Conv(name="conv2", out=16, kernel=5),
        Act(name="relu2"),
        Pool(name="max_pool_2", mode="max", kernel=2),
        Flatten(name="flatten", expect=E("N×400", f"{SEED}: x.view(-1, 16*5*5); fc1 in_features=400")),
        Linear(name="fc1", out=120),
        Linear(name="fc2", out=84),
        Linear(name="fc3", out=10, expect=E("N×10", f"{SEED}: printed torch.Size([1, 10])")),
    ))


register("lenet5", family="lenet", make=lenet5, arxiv="",
         paper="Gradient-Based Learning Applied to Document Recognition (LeCun et al., 1998)")
