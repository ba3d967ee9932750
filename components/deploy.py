def deploy(config_json: str, version: str) -> str:
    """Apply the InferenceService of the new champion `version` (runs after promote when
    serving.deploy_in_pipeline is true; the step's ServiceAccount needs k8s/base/rbac.yaml's Role)."""
    from pathreasoner.config import config_from_json
    from pathreasoner.logging_setup import configure_logging
    from pathreasoner.serve.deploy import deploy as run

    configure_logging()
    result = run(config_from_json(config_json), "champion", version=version, apply=True)
    print(result.line())
    return result.line()
