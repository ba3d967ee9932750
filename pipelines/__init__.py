"""The Kubeflow pipeline of all PathReasoner stages (wiring + Kubernetes settings only)."""
