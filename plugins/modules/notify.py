#!/usr/bin/python
# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: notify
short_description: Post a deployment summary as JSON to a webhook
version_added: 0.3.0
description:
  - Sends one C(POST) with a JSON body that sums up a deployment (application, version,
    strategy, outcome, message, hosts) to a webhook, for chat, incident or audit tools.
  - The body also has a C(text) field with a one-line summary, which chat webhooks that read
    C(text) (Slack, Mattermost, Rocket.Chat) show as the message.
  - The URL and the headers are hidden in the output and logs, since a webhook URL usually
    embeds its secret. No error text names the URL.
  - "Runs on the controller (use C(delegate_to: localhost) and C(run_once: true)); needs only
    Python's standard library."
author:
  - lastmile.deploy contributors (@lastmile-deploy)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details:
      - In check mode nothing is sent; the result has the body that would be sent and
        RV(would_send=true).
  diff_mode:
    support: none
  platform:
    platforms: posix
options:
  url:
    description:
      - C(http://) or C(https://) URL of the webhook. Redirects are not followed.
    type: str
    required: true
  headers:
    description:
      - Extra request headers, for example C(Authorization). C(Content-Type) is
        C(application/json) unless given here.
    type: dict
  validate_certs:
    description:
      - Verify the TLS certificate of an C(https://) URL.
    type: bool
    default: true
  ca_path:
    description:
      - PEM file of CA certificates that the webhook's certificate is verified against, for a
        webhook whose certificate a private CA signed.
    type: path
  timeout:
    description:
      - Seconds to wait for the webhook to connect and answer.
    type: float
    default: 10
  app:
    description:
      - Application name.
    type: str
    required: true
  version:
    description:
      - Release id the run deployed (or rolled back to).
    type: str
    required: true
  strategy:
    description:
      - Deployment strategy of the run, for example V(rolling) or V(canary).
    type: str
  outcome:
    description:
      - How the run ended.
    type: str
    required: true
    choices:
      - succeeded
      - rolled_back
      - failed
  details:
    description:
      - Free text for the C(message) field of the body, for example why the run was rolled back.
    type: str
    default: ""
  hosts:
    description:
      - Hosts the run was for.
    type: list
    elements: str
    default: []
  releases:
    description:
      - What each host ends on, host name to text such as V(1.4.2 (succeeded\)), for the C(releases) field of the
        body.
    type: dict
    default: {}
    version_added: 0.3.0
  fail_on_error:
    description:
      - Whether a webhook that cannot be reached or answers a status other than 2xx fails the
        task. With V(false) the task succeeds with RV(sent=false), RV(error), and a warning
        that does not contain the URL, so a notification never fails a deployment.
    type: bool
    default: true
notes:
  - The result never reports C(changed); a notification changes nothing on any host.
seealso:
  - module: lastmile.deploy.health_check
"""

EXAMPLES = r"""
- name: Tell the team channel that the deployment succeeded
  lastmile.deploy.notify:
    url: "{{ vault_chat_webhook }}"
    app: shop
    version: 1.4.2
    strategy: canary
    outcome: succeeded
    hosts: "{{ ansible_play_hosts_all }}"
  delegate_to: localhost
  run_once: true

- name: Report a rollback to an incident tool, never failing the play
  lastmile.deploy.notify:
    url: https://events.example.com/v1/deployments
    headers:
      Authorization: "Bearer {{ vault_events_token }}"
    app: shop
    version: 1.4.3
    outcome: rolled_back
    details: "app2: p95 latency 812 ms > 300 ms; restored 1.4.2"
    fail_on_error: false
  delegate_to: localhost
  run_once: true
"""

RETURN = r"""
sent:
  description: Whether the webhook accepted the summary (a 2xx answer).
  returned: always
  type: bool
  sample: true
would_send:
  description: Set in check mode, where nothing is sent.
  returned: in check mode
  type: bool
  sample: true
status:
  description: HTTP status the webhook answered.
  returned: when the summary was sent
  type: int
  sample: 200
error:
  description: Why the summary was not delivered; never contains the URL.
  returned: when O(fail_on_error=false) and the summary was not delivered
  type: str
  sample: the webhook answered status 500 (expected 2xx)
payload:
  description: The JSON body sent (or that would be sent in check mode).
  returned: always
  type: dict
  sample:
    app: shop
    version: 1.4.2
    strategy: canary
    outcome: succeeded
    message: ""
    hosts: [app1, app2]
    releases: {app1: 1.4.2 (succeeded), app2: 1.4.2 (succeeded)}
    text: shop 1.4.2 succeeded (canary, 2 hosts)
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.lastmile.deploy.plugins.module_utils.errors import LastmileError, failure
from ansible_collections.lastmile.deploy.plugins.module_utils.http_client import ProbeError, clean_headers
from ansible_collections.lastmile.deploy.plugins.module_utils.notify import (
    OUTCOMES,
    NotifyError,
    build_summary,
    check_url,
    post_json,
)


def deliver(module: AnsibleModule, payload: dict) -> int:
    params = module.params
    if params["timeout"] <= 0:
        raise NotifyError("timeout must be greater than 0, got %r" % params["timeout"])
    try:
        headers = clean_headers(params["headers"])
    except ProbeError as exc:
        raise NotifyError(str(exc)) from None
    return post_json(params["url"], payload, headers, params["validate_certs"], params["timeout"], params["ca_path"])


def run(module: AnsibleModule) -> dict:
    params = module.params
    payload = build_summary(
        params["app"], params["version"], params["outcome"], params["strategy"], params["details"], params["hosts"],
        params["releases"],
    )
    result = dict(changed=False, sent=False, payload=payload)
    what = "the %s notification for %s %s" % (params["outcome"], params["app"], params["version"])
    try:
        if module.check_mode:
            check_url(params["url"])
            result["would_send"] = True
            return result
        result["status"] = deliver(module, payload)
    except NotifyError as exc:
        if params["fail_on_error"]:
            raise NotifyError("%s was not delivered: %s" % (what, exc)) from None
        result["error"] = str(exc)
        module.warn("%s was not delivered: %s; the deployment itself is not affected" % (what, exc))
        return result
    result["sent"] = True
    return result


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            url=dict(type="str", required=True, no_log=True),
            headers=dict(type="dict", no_log=True),
            validate_certs=dict(type="bool", default=True),
            ca_path=dict(type="path"),
            timeout=dict(type="float", default=10.0),
            app=dict(type="str", required=True),
            version=dict(type="str", required=True),
            strategy=dict(type="str"),
            outcome=dict(type="str", required=True, choices=list(OUTCOMES)),
            details=dict(type="str", default=""),
            hosts=dict(type="list", elements="str", default=[]),
            releases=dict(type="dict", default={}),
            fail_on_error=dict(type="bool", default=True),
        ),
        supports_check_mode=True,
    )
    try:
        result = run(module)
    except LastmileError as exc:
        module.fail_json(**failure(exc))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
