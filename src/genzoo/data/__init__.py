"""Data: toy 2-D sets, MNIST (IDX), text, user folders, transforms with log-dets. `get(name, split)`."""
