"""The control plane (`/_mock`, contract/control.yaml): its handlers and the guard that decides who may call it."""
