"""The textbook part: layers, losses, optimisers and Sequential, forward beside backward."""
