"""The demo store: a believable, reproducible catalog with shoppers and order history, and `patron serve`."""
