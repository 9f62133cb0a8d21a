"""Offline training: MNIST, augmentation, synthetic ink and styles, calibration, the loop."""
