"""KServe serving: request parsing, the predictor (kserve.Model), the local server, manifests."""
