"""What a call is made of, free of frameworks: audio, frames, marks, tokens, watchdog rules."""
