"""What ships with Inkling: trained weights and a small attributed MNIST subset.

- ``CNN``: the convolutional network the app serves (``inkling train --arch cnn``, then a
  fine-tune with the styles grown since: the README's recipe; its metadata names the
  model it started from, ``fine_tuned_from``);
- ``MLP``: the 784-256-10 multilayer perceptron preset;
- ``UNFINISHED``: the CNN that reads ink while the pen is down: the served CNN's base
  fine-tuned on pen-down ink alone, digits in people's pen order cut as often as a page
  reads them, labelled with the digit they become (``inkling train --init cnn_base.npz
  --prefixes 1 ...``, the README's recipe), so its confidence on unfinished ink means
  what it says;
- ``CLASSIC``: the textbook 784-15-10 sigmoid network the inside view shows beside the CNN
  (``inkling train --arch mlp --hidden 15 --activation sigmoid``);
- ``SUBSET``: 1,000 held-out MNIST test digits and 2,000 training "anchor" digits
  (LeCun, Cortes & Burges, CC BY-SA 3.0), rebuilt by ``inkling make-subset``.

Each model file carries its own recipe, seed and metrics in its header.
"""

from pathlib import Path

FOLDER = Path(__file__).resolve().parent
CNN = FOLDER / "cnn.npz"
MLP = FOLDER / "mlp.npz"
CLASSIC = FOLDER / "classic.npz"
UNFINISHED = FOLDER / "cnn_unfinished.npz"
SUBSET = FOLDER / "mnist_subset.npz"

NOT_SURE_BELOW = 0.5
"""Below this top probability the shipped CNN's answer is shown as "not sure"; chosen from
the trade-off that ``benchmarks/ink.py`` prints (non-digits caught against real digits
hidden), and sent to clients in ``hello``."""
