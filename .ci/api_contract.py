"""The API keeps the promises of its OpenAPI document, checked by clients that only know
the document: schemathesis over every operation as three roles, and a journey through a
client generated with openapi-python-client.

Run by `just contract` against a freshly seeded service; arguments: the service's base
URL and the directory of the Python environment's executables.
"""

import json
import os
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

BASE, BIN = sys.argv[1].rstrip("/"), Path(sys.argv[2])
API = f"{BASE}/api"
PASSWORD = "partnerdesk-demo"
# Each role's run is bounded by its example budget (`generation.max-examples` per
# operation and phase in schemathesis.toml: about 5,000 cases, a minute or two here;
# schemathesis prints the count); the timeout only stops a run that hangs.
ROLE_SECONDS = 300


def call(method, path, body=None, token=None, cookie=None):
    """One JSON request; returns (status, parsed body, Set-Cookie)."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(f"{API}{path}", data=data, method=method)
    if data is not None:
        req.add_header("content-type", "application/json")
    if token:
        req.add_header("authorization", f"Bearer {token}")
    if cookie:
        req.add_header("cookie", cookie)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read() or b"null"), resp.headers.get("set-cookie")
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"null"), None


def token_for(email):
    status, _, cookie = call("POST", "/auth/login", {"email": email, "password": PASSWORD})
    assert status == 200, f"log-in as {email}: {status}"
    cookie = cookie.split(";")[0]
    status, created, _ = call("POST", "/me/tokens", {"name": "contract"}, cookie=cookie)
    assert status == 201, f"token for {email}: {status} {created}"
    return created["token"]


def organization(token, name):
    _, me, _ = call("GET", "/me", token=token)
    return next(m["organization_id"] for m in me["organizations"] if m["organization_name"] == name), me


def user_id(token, org, email):
    status, users, _ = call("GET", f"/organizations/{org}/users", token=token)
    assert status == 200, f"users of {org}: {status} {users}"
    return next(u["user_id"] for u in users if u["email"] == email)


def roles():
    """Each role with a token and the ids its paths use, so operations reach real data."""
    anna = token_for("anna@northwind.example")
    _, page, _ = call("GET", "/customers?q=Jansen", token=anna)
    jansen = page["items"][0]["id"]
    eva = user_id(anna, jansen, "eva@jansen.example")
    jan = token_for("jan@jansen.example")
    vendor = token_for("admin@vendor.example")
    vendor_org, me = organization(vendor, "Partnerdesk Software B.V.")
    return [
        ("partner", anna, jansen, eva),
        ("customer administrator", jan, jansen, eva),
        ("vendor administrator (admin@vendor.example)", vendor, vendor_org, me["user"]["id"]),
    ]


def journey():
    """What a newcomer does with a generated client: log in, create a token, add a
    customer, invite one, list My customers; each response parsed into its model."""
    work = Path(tempfile.mkdtemp(prefix="partnerdesk-client-"))
    (work / "openapi.json").write_bytes(urllib.request.urlopen(f"{API}/openapi.json").read())
    subprocess.run(
        [BIN / "openapi-python-client", "generate", "--path", work / "openapi.json", "--meta", "none",
         "--output-path", work / "partnerdesk_client"],
        check=True, capture_output=True, timeout=300,
    )
    sys.path.insert(0, str(work))
    from partnerdesk_client import AuthenticatedClient, Client
    from partnerdesk_client.api.auth import create_token, log_in
    from partnerdesk_client.api.customer_invitations import invite_customers
    from partnerdesk_client.api.customers import create_customer, list_customers
    from partnerdesk_client.api.users import import_users
    from partnerdesk_client.models import (
        CreateCustomerRequest, CreateTokenRequest, CustomerPage, CustomerView, ImportUsersFilesBody,
        InvitationView, InviteCustomerRequest, LoginRequest, LoginResult, CreatedToken, ImportResult,
    )
    from partnerdesk_client.types import File

    with Client(base_url=API, raise_on_unexpected_status=True) as session:
        login = log_in.sync_detailed(client=session, body=LoginRequest(email="anna@northwind.example", password=PASSWORD))
        assert isinstance(login.parsed, LoginResult), login.content
        # The session cookie the log-in set is sent with the next request.
        token = create_token.sync_detailed(client=session, body=CreateTokenRequest(name="generated client"))
        assert isinstance(token.parsed, CreatedToken), token.content
    api = AuthenticatedClient(base_url=API, token=token.parsed.token, raise_on_unexpected_status=True)
    customer = create_customer.sync_detailed(
        client=api, body=CreateCustomerRequest(name="Generated Client BV", active=True, commission_rate="12.50"))
    assert isinstance(customer.parsed, CustomerView), customer.content
    invited = invite_customers.sync_detailed(
        client=api, body=InviteCustomerRequest(email="owner@generated.example", company_name="Invited Through Client"))
    assert isinstance(invited.parsed, InvitationView), invited.content
    imported = import_users.sync_detailed(
        id=customer.parsed.id, client=api,
        body=ImportUsersFilesBody(file=File(payload=b"email,first_name,last_name\nuser@generated.example,Gen,User\n",
                                            file_name="users.csv", mime_type="text/csv")),
    )
    assert isinstance(imported.parsed, ImportResult) and imported.parsed.imported == 1, imported.content
    page = list_customers.sync_detailed(client=api, q="Generated")
    assert isinstance(page.parsed, CustomerPage), page.content
    assert [c.company for c in page.parsed.items] == ["Generated Client BV"], page.content
    downloads(api)
    print("journey through the generated client: ok")


def downloads(api):
    """Files come back as their bytes: the commissions as CSV, and a billing run (rendered
    by the worker) as XLSX and CSV."""
    import time
    from partnerdesk_client.api.billing import (
        download_billing_csv, download_billing_xlsx, get_billing_run, start_billing_run,
    )
    from partnerdesk_client.api.commissions import export_commissions
    from partnerdesk_client.models import BillingRunStatus, BillingRunView, StartBillingRunRequest
    from partnerdesk_client.types import File

    csv = export_commissions.sync_detailed(client=api)
    assert isinstance(csv.parsed, File), csv.content
    header = csv.parsed.payload.read().decode().lstrip("\ufeff").splitlines()[0]
    assert "customer" in header and "amount" in header, header
    run = start_billing_run.sync_detailed(client=api, body=StartBillingRunRequest())
    assert isinstance(run.parsed, BillingRunView), run.content
    deadline = time.monotonic() + 120
    while run.parsed.status != BillingRunStatus.READY:
        assert run.parsed.status != BillingRunStatus.FAILED and time.monotonic() < deadline, run.content
        time.sleep(0.5)
        run = get_billing_run.sync_detailed(id=run.parsed.id, client=api)
    xlsx = download_billing_xlsx.sync_detailed(id=run.parsed.id, client=api)
    assert isinstance(xlsx.parsed, File), xlsx.content[:200]
    assert xlsx.parsed.payload.read()[:2] == b"PK", "an XLSX workbook is a zip file"
    lines = download_billing_csv.sync_detailed(id=run.parsed.id, client=api)
    assert isinstance(lines.parsed, File), lines.content[:200]
    assert lines.parsed.payload.read(), "the billing CSV has its header at least"


def conformance():
    failed = []
    import time
    for name, token, org, user in roles():
        print(f"schemathesis as {name}", flush=True)
        started = time.monotonic()
        env = dict(os.environ, PD_ID=org, PD_USER_ID=user)
        run = subprocess.run(
            [BIN / "st", "--config-file", Path(__file__).with_name("schemathesis.toml"), "run", f"{API}/openapi.json",
             "--url", API, "--header", f"Authorization: Bearer {token}"],
            env=env, timeout=ROLE_SECONDS,
        )
        print(f"schemathesis as {name}: {time.monotonic() - started:.0f} s", flush=True)
        if run.returncode != 0:
            failed.append(name)
    assert not failed, f"responses broke the document's promises as: {', '.join(failed)}"


if __name__ == "__main__":
    journey()
    conformance()
