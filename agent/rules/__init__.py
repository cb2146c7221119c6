"""Real-time local service: rules on readings and context strands, and the actions they fire."""
