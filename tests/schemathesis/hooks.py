"""Schemathesis hooks for Parley: what JSON Schema cannot say about a request.

An image must be a real image (Parley reads its signature), which no pattern can describe: a
generated value that has the documented data-URI form is replaced, before the request goes, with
a real one-pixel PNG, and so is a multipart image file, when the body was generated to be valid
(one generated to be invalid is sent as it was made).
"""
import base64
import json
import re

import jsonschema_rs
import schemathesis
from schemathesis.generation.meta import ComponentInfo
from schemathesis.generation.modes import GenerationMode
from schemathesis.transport.serialization import Binary

PNG_BASE64 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC"
PNG = base64.b64decode(PNG_BASE64)
PNG_DATA_URI = "data:image/png;base64," + PNG_BASE64
DATA_URI = re.compile(r"^data:image/(png|jpeg|gif|webp);base64,([A-Za-z0-9+/]{4})*([A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$")


def body_is_positive(case):
    """Whether the body was generated to be valid: a negative one is sent as it was made."""
    meta = case.meta
    if meta is None:
        return True
    if not meta.generation.mode.is_positive:
        return False
    return all(
        component.mode.is_positive
        for location, component in meta.components.items()
        if str(getattr(location, "value", location)) == "body"
    )


def as_part_text(value):
    """A value as the server reads its part: text (a list goes as repeated parts: left as it is)."""
    if isinstance(value, Binary):
        return ""
    if isinstance(value, (str, list)):
        return value
    return json.dumps(value)


def relabel_valid_form(case):
    """A multipart body marked invalid that the document admits is a valid one.

    Schemathesis 4.32 cannot make some multipart bodies invalid (every part is text on the wire)
    and then sends a valid body still marked negative, which a server that accepts it fails
    for. Such a body is relabelled from what the document says of it.
    """
    meta = case.meta
    if meta is None or case.media_type != "multipart/form-data" or meta.generation.mode.is_positive:
        return
    if any(
        component.mode.is_negative
        for location, component in meta.components.items()
        if str(getattr(location, "value", location)) != "body"
    ):
        return
    for alternative in case.operation.body:
        if alternative.media_type == case.media_type:
            schema = alternative.validation_schema
            break
    else:
        return
    # As the parts go on the wire: every value is text (files are strings to JSON Schema).
    body = {key: as_part_text(value) for key, value in case.body.items()}
    if jsonschema_rs.validator_for(schema).is_valid(body):
        meta.generation.mode = GenerationMode.POSITIVE
        for location in list(meta.components):
            meta.components[location] = ComponentInfo(mode=GenerationMode.POSITIVE)


@schemathesis.hook
def before_call(ctx, case, **kwargs):
    """Every phase's requests pass here (generation hooks miss the coverage phase's)."""
    body = case.body
    if not isinstance(body, dict):
        return
    relabel_valid_form(case)
    if not body_is_positive(case):
        return
    for key in ("image", "avatar"):
        value = body.get(key)
        if isinstance(value, str) and DATA_URI.match(value):
            body[key] = PNG_DATA_URI
    if case.media_type == "multipart/form-data" and isinstance(body.get("file"), (bytes, str)):
        # Wrapped as schemathesis wraps the files it makes.
        body["file"] = Binary(PNG)




@schemathesis.hook
def after_call(ctx, case, response):
    """Again after the call: the mark can change between the request and the checks."""
    if isinstance(case.body, dict):
        relabel_valid_form(case)
