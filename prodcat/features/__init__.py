"""What the heads read: the tabular encoding of price and categoricals, the feature blocks of a set of rows, the sparse model's n-gram counts."""
