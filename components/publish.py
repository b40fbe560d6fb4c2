"""One list of what a component offers its callers: each output is an attribute of the component
and is registered with Pulumi (``register_outputs``) under the same name."""

from __future__ import annotations

from typing import Any

import pulumi


def publish(component: pulumi.ComponentResource, **outputs: Any) -> None:
    for name, value in outputs.items():
        setattr(component, name, value)
    component.register_outputs(outputs)
