"""PathReasoner Platform: WSIs + pathology reports -> a reasoning VLM, trained, registered and served.

All logic lives in this package; the CLI (`pathreasoner.cli`), the KFP components (`components/`),
the DVC stages (`dvc.yaml`) and the KServe predictor (`pathreasoner.serve`) are thin adapters.
"""

__version__ = "0.1.0"
