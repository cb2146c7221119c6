"""On-device inference: model cards, the LiteRT runtime, live windows and context strands."""
