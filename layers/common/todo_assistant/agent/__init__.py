"""What the model sees and can do: the Todo agent, its tools, the history it reads, what its tools changed."""
