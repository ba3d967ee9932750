"""NetworkPolicy semantics (networking.k8s.io/v1) for the tests: is a connection allowed?

A connection from `src` to `dst` on a port is allowed when both sides allow it: the sender's egress
(no policy with Egress selects it, or one of their egress rules admits dst and the port) and the
receiver's ingress (likewise). Policies apply to pods of their own namespace. Named ports resolve
against the receiver's container ports. `Pod.ip` stands for an address outside the pod network
(e.g. the API server), which only ipBlock peers match.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

Doc = dict[str, Any]


@dataclass(frozen=True)
class Pod:
    name: str
    namespace: str
    labels: Mapping[str, str] = field(default_factory=dict)
    ports: Mapping[str, int] = field(default_factory=dict)  # named container ports
    namespace_labels: Mapping[str, str] | None = None  # default: kubernetes.io/metadata.name
    ip: str | None = None  # set for endpoints outside the pod network

    @property
    def ns_labels(self) -> Mapping[str, str]:
        if self.namespace_labels is not None:
            return self.namespace_labels
        return {"kubernetes.io/metadata.name": self.namespace}


def selects(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """A LabelSelector (matchLabels and matchExpressions) against labels; {} selects everything."""
    selector = selector or {}
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for expr in selector.get("matchExpressions", []):
        key, op, values = expr["key"], expr["operator"], expr.get("values", [])
        ok = {
            "In": key in labels and labels[key] in values,
            "NotIn": key not in labels or labels[key] not in values,
            "Exists": key in labels,
            "DoesNotExist": key not in labels,
        }[op]
        if not ok:
            return False
    return True


def peer_matches(peer: Doc, policy_namespace: str, other: Pod) -> bool:
    if "ipBlock" in peer:
        if other.ip is None:
            return False  # pod-to-pod traffic is matched by pod/namespace selectors
        ip = ipaddress.ip_address(other.ip)
        block = peer["ipBlock"]
        return ip in ipaddress.ip_network(block["cidr"]) and not any(
            ip in ipaddress.ip_network(cidr) for cidr in block.get("except", [])
        )
    if other.ip is not None:
        return False
    if "namespaceSelector" in peer:
        if not selects(peer["namespaceSelector"], other.ns_labels):
            return False
    elif other.namespace != policy_namespace:
        return False
    return "podSelector" not in peer or selects(peer["podSelector"], other.labels)


def port_matches(rule_ports: list[Doc] | None, port: int, protocol: str, dst: Pod) -> bool:
    if not rule_ports:
        return True
    for item in rule_ports:
        if item.get("protocol", "TCP") != protocol:
            continue
        wanted = item.get("port")
        if wanted is None:
            return True
        if isinstance(wanted, str):
            if dst.ports.get(wanted) == port:
                return True
        elif wanted <= port <= item.get("endPort", wanted):
            return True
    return False


def _types(spec: Doc) -> list[str]:
    return spec.get("policyTypes") or (["Ingress"] + (["Egress"] if "egress" in spec else []))


def _side_allows(policies: list[Doc], pod: Pod, peer: Pod, port: int, protocol: str, kind: str) -> bool:
    """Whether `pod`'s policies of one direction (Ingress: peer -> pod, Egress: pod -> peer) admit it."""
    dst = pod if kind == "Ingress" else peer
    applying = [
        p
        for p in policies
        if p["metadata"].get("namespace") == pod.namespace
        and pod.ip is None
        and kind in _types(p["spec"])
        and selects(p["spec"]["podSelector"], pod.labels)
    ]
    if not applying:
        return True  # not isolated in this direction
    peers_key = "from" if kind == "Ingress" else "to"
    for policy in applying:
        for rule in policy["spec"].get(kind.lower(), []) or []:
            peers = rule.get(peers_key)
            if (not peers or any(peer_matches(p, pod.namespace, peer) for p in peers)) and port_matches(
                rule.get("ports"), port, protocol, dst
            ):
                return True
    return False


def allowed(policies: list[Doc], src: Pod, dst: Pod, port: int, protocol: str = "TCP") -> bool:
    """Both the sender's egress and the receiver's ingress admit src -> dst:port/protocol."""
    return _side_allows(policies, src, dst, port, protocol, "Egress") and _side_allows(
        policies, dst, src, port, protocol, "Ingress"
    )
