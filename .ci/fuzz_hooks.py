"""schemathesis hooks for .ci/fuzz-api (loaded through .ci/schemathesis.toml).

The fuzzer authenticates with one admin API token. `DELETE /api/v1/tokens/{id}`
may revoke any token of the workspace, that one included (which is right: an
admin may revoke their own token), and small ids are exactly what a fuzzer
tries first; once the fuzzer's own token is revoked every later request is a
401 and tests nothing. So cases that name the fuzzer's own token id
(FUZZ_TOKEN_ID, set by .ci/fuzz-api) are not generated; every other id,
valid or not, still is.
"""

import os

import schemathesis

OWN_TOKEN_ID = int(os.environ["FUZZ_TOKEN_ID"])


def _names_own_token(value):
    # axum parses the id as i64 (leading `+` and zeros allowed); Python's
    # int() accepts at least as much, so nothing that reaches the token passes.
    try:
        return int(str(value).strip()) == OWN_TOKEN_ID
    except ValueError:
        return False


@schemathesis.hook
def filter_case(context, case):
    if case.method.upper() == "DELETE" and case.operation.path == "/api/v1/tokens/{id}":
        return not _names_own_token((case.path_parameters or {}).get("id"))
    return True
