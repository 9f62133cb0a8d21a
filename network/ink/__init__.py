"""Ink: pen strokes to the 28x28 image the network reads, and images back to strokes."""
