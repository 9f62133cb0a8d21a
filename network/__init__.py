"""Inkling's engine: a from-scratch NumPy neural network that reads hand-drawn digits."""
