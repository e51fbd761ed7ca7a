"""The OpenAPI document against the running server: it is valid OpenAPI 3.1, it is what
/openapi.yaml serves, and real answers (successes and errors) match its schemas."""
import base64
import os
import re

import jsonschema
import requests
import yaml
from openapi_spec_validator import validate

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DOCUMENT = os.path.join(ROOT, "Sources", "ParleyServer", "OpenAPI", "openapi.yaml")
GIF = "data:image/gif;base64,R0lGODlhAQABAIAAAP///wAAACH5BAEAAAAALAAAAAABAAEAAAICRAEAOw=="


class Checker:
    def __init__(self, document):
        self.document = document
        self.checked = set()

    def operation(self, method, path):
        for template, item in self.document["paths"].items():
            pattern = "^" + re.sub(r"\{[^}]+\}", "[^/]+", template) + "$"
            if re.match(pattern, path):
                if "$ref" in item:
                    item = self.resolve(item["$ref"])
                assert method.lower() in item, f"{method} {template} is not documented"
                return template, item[method.lower()]
        raise AssertionError(f"no documented path matches {path}")

    def resolve(self, ref):
        node = self.document
        for part in ref.lstrip("#/").split("/"):
            node = node[part]
        return node

    def check(self, response):
        """Validates a response against the documented schema for its operation and status."""
        request = response.request
        path = requests.utils.urlparse(request.url).path
        template, operation = self.operation(request.method, path)
        status = str(response.status_code)
        documented = operation["responses"].get(status) or operation["responses"].get("default")
        assert documented, f"{request.method} {template} does not document {status}"
        if "$ref" in documented:
            documented = self.resolve(documented["$ref"])
        content_type = response.headers.get("Content-Type", "").split(";")[0]
        if content_type == "application/json":
            media = documented.get("content", {}).get("application/json")
            assert media, f"{request.method} {template} {status} documents no JSON body"
            # The whole document is the root, so the schema's $refs resolve within it.
            root = {**self.document, **media["schema"]}
            jsonschema.Draft202012Validator(root, format_checker=jsonschema.FormatChecker()).validate(response.json())
        self.checked.add((request.method, template, status))
        return response


def test_the_document_is_valid_openapi_and_is_served(parley):
    with open(DOCUMENT, "rb") as f:
        source = f.read()
    document = yaml.safe_load(source)
    validate(document)
    assert document["openapi"].startswith("3.1")
    server = parley()
    served = requests.get(server.url + "/openapi.yaml")
    assert served.status_code == 200 and served.headers["Content-Type"].startswith("application/yaml")
    assert served.content == source


def test_real_answers_match_the_documented_schemas(parley):
    with open(DOCUMENT) as f:
        checker = Checker(yaml.safe_load(f))
    server = parley(env={"METRICS_TOKEN": "a-metrics-token-for-tests"})
    url = server.url
    ann_http, bob_http = requests.Session(), requests.Session()
    c = checker.check
    ann = c(ann_http.post(url + "/api/auth/signup", json={"name": "Ann", "email": "ann@example.com",
                                                            "password": "secret1", "avatar": GIF})).json()
    c(bob_http.post(url + "/api/auth/signup", json={"name": "Bob", "email": "bob@example.com", "password": "secret1"}))
    bob = c(bob_http.get(url + "/api/auth/check")).json()
    c(requests.post(url + "/api/auth/signup", json={"name": "X", "email": "ann@example.com", "password": "secret1"}))
    c(requests.post(url + "/api/auth/login", json={"email": "ann@example.com", "password": "nope!!"}))
    c(ann_http.post(url + "/api/auth/login", json={"email": "ann@example.com", "password": "secret1"}))
    c(requests.get(url + "/api/auth/check"))
    c(ann_http.put(url + "/api/auth/update", json={"name": "Ann B."}))
    sent = c(ann_http.post(url + "/api/message", json={"to": bob["_id"], "text": "hi", "image": GIF})).json()
    c(bob_http.post(url + "/api/message", json={"to": ann["_id"], "text": "hello"}))
    c(ann_http.post(url + "/api/message", json={"to": bob["_id"]}))
    c(ann_http.post(url + "/api/message", json={"to": "0" * 24, "text": "x"}))
    c(ann_http.post(url + "/api/message", data="x", headers={"Content-Type": "text/plain"}))
    c(ann_http.get(url + "/api/message/users"))
    c(ann_http.get(url + "/api/message/users?limit=1"))
    c(ann_http.get(url + "/api/message/users?limit=0"))
    c(bob_http.get(url + f"/api/message/{ann['_id']}"))
    c(bob_http.get(url + f"/api/message/{ann['_id']}?updatedAfter=2020-01-01T00:00:00.000Z"))
    c(bob_http.get(url + f"/api/message/{'0' * 24}"))
    c(bob_http.post(url + f"/api/message/{ann['_id']}/read", json={"upTo": sent["_id"]}))
    c(bob_http.post(url + f"/api/message/{ann['_id']}/read", json={"upTo": "0" * 24}))
    c(ann_http.patch(url + f"/api/message/{sent['_id']}", json={"text": "hi!"}))
    c(bob_http.patch(url + f"/api/message/{sent['_id']}", json={"text": "mine?"}))
    c(ann_http.delete(url + f"/api/message/{sent['_id']}"))
    c(ann_http.patch(url + f"/api/message/{sent['_id']}", json={"text": "again"}))
    c(bob_http.get(url + f"/api/message/{ann['_id']}"))  # with the tombstone
    c(requests.get(url + "/healthz"))
    c(requests.get(url + "/readyz"))
    c(requests.get(url + "/metrics"))
    c(requests.get(url + "/metrics", headers={"Authorization": "Bearer a-metrics-token-for-tests"}))
    c(requests.get(url + "/socket.io/?EIO=4&transport=polling"))
    c(requests.get(url + "/socket.io/?EIO=3&transport=polling"))
    c(ann_http.post(url + "/api/auth/logout"))
    statuses = {status for (_, _, status) in checker.checked}
    assert {"200", "201", "400", "401", "403", "404", "409", "415"} <= statuses
