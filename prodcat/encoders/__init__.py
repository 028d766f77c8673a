"""Text to vectors: loading sentence-transformer encoders, encoding with a text-hash cache, stored matrices, the int8 ONNX export, FLOP counts."""
