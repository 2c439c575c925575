"""Exercises on who may get in: a citizen who cannot sign in, and an administrator's key
added and another taken away."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import subprocess
from pathlib import Path
from urllib.parse import urlencode

import yaml

from egov import access
from egov.i18n import N_, _
from egov.model import PROJECT, SSO_SITE, Role, StackError, parse_stack, stack_file
from egov.node_ssh import ssh_argv
from egov.paths import role_defaults, state_dir
from egov.training.base import Exercise, Lab, TrainingError

# ---- a citizen who cannot sign in ----------------------------------------------------------


def ssha(password: str) -> str:
    """The salted SHA-1 hash slapd keeps for a password ({SSHA}, as slappasswd makes it)."""
    salt = os.urandom(8)
    return "{SSHA}" + base64.b64encode(hashlib.sha1(password.encode() + salt).digest()
                                       + salt).decode()


def signs_in(lab: Lab, node: str, portal: str, user: str, password: str) -> bool:
    """Whether the portal on `node` opens a session for the user, as a browser's form post
    does (on the node: the password goes to curl on its standard input)."""
    address = lab.stack.derived.address[node]
    host = ["-H", f"Host: {portal}"]
    form = lab.run(node, ["curl", "-sS", "-m", "20", *host, f"http://{address}/"])
    token = re.search(r'name="token" value="([^"]*)"', form.stdout)
    body = urlencode({"user": user, "password": password,
                      "token": token.group(1) if token else ""})
    res = lab.run(node, ["curl", "-sS", "-m", "20", "-o", "/dev/null", "-D", "-", *host,
                         "-H", "Accept: application/json", "--data-binary", "@-",
                         f"http://{address}/"], input=body)
    cookies = [line for line in res.stdout.splitlines()
               if line.lower().startswith("set-cookie: lemonldap=")]
    return bool(cookies) and "lemonldap=;" not in cookies[0]


LDAP_ROOT = ["sudo", "-n", "{tool}", "-Q", "-Y", "EXTERNAL", "-H", "ldapi:///"]


class CitizenSignIn(Exercise):
    id = "citizen-sign-in"
    number = 5
    minutes = 25
    title = N_("A citizen who cannot sign in")
    brief = N_(
        "{person} (account {uid}) calls the helpdesk: he can no longer sign in to {title}, "
        "although he types his password carefully; yesterday a colleague at the front desk "
        "\"fixed\" something in his account. Find out why the portal {portal} does not let "
        "him in, and repair his account so that he signs in and uses {title} again. His "
        "password is the one on record in {password_file}.")
    hints = (
        N_("On {identity}, `ldapwhoami -x -H ldapi:/// -D {dn} -W` tests a password against "
           "the directory; the portal logs to `journalctl -u lemonldap-ng-fastcgi-server`."),
        N_("As root on {identity}, `ldapsearch -Q -LLL -Y EXTERNAL -H ldapi:/// -b "
           "cn={group},ou=groups,{suffix} member` lists who may use the citizens' services."),
        N_("`ldappasswd -Q -Y EXTERNAL -H ldapi:/// -T FILE {dn}` sets a password from a file; "
           "`ldapmodify -Q -Y EXTERNAL -H ldapi:///` with `add: member` puts an account back "
           "in a group. For the lab's test accounts a converge of {identity} does both."),
    )

    def facts(self, stack):
        accounts = role_defaults("directory")["directory__test_accounts"]
        account = next(a for a in accounts if "citizens" in a.get("groups", []))
        services = [s for s in stack.services if s.access.group == "citizens"]
        suffix = stack.directory_suffix
        return {"uid": account["uid"], "person": account["cn"], "group": "citizens",
                "dn": f"uid={account['uid']},ou={account['ou']},{suffix}", "suffix": suffix,
                "identity": stack.nodes_with(Role.identity)[0].name,
                "portal": f"{SSO_SITE}.{stack.domain}",
                "title": services[0].title if services else "SSO",
                "password_file": str(state_dir(stack.name) / "secrets" / "ldap" / "test"
                                     / account["uid"])}

    def nodes(self, lab):
        return [self.facts(lab.stack)["identity"]]

    def _ldap(self, lab: Lab, tool: str, ldif: str = "", *args: str) -> str:
        node = self.facts(lab.stack)["identity"]
        res = lab.run(node, [w.format(tool=tool) for w in LDAP_ROOT] + list(args), input=ldif)
        if res.returncode != 0:
            raise TrainingError(_("{node}: {tool} failed: {output}").format(
                node=node, tool=tool, output=res.stderr.strip()[-400:]))
        return res.stdout

    def _member(self, lab: Lab, f: dict) -> bool:
        out = self._ldap(lab, "ldapsearch", "", "-LLL", "-o", "ldif-wrap=no", "-b",
                         f"cn={f['group']},ou=groups,{f['suffix']}", "-s", "base", "member")
        return f"member: {f['dn']}".lower() in out.lower()

    def _change(self, lab: Lab, f: dict, password: str, member: str | None) -> None:
        ldif = (f"dn: {f['dn']}\nchangetype: modify\nreplace: userPassword\n"
                f"userPassword: {ssha(password)}\n")
        if member:
            ldif += (f"\ndn: cn={f['group']},ou=groups,{f['suffix']}\nchangetype: modify\n"
                     f"{member}: member\nmember: {f['dn']}\n")
        self._ldap(lab, "ldapmodify", ldif)

    def start(self, lab):
        f = self.facts(lab.stack)
        self._change(lab, f, os.urandom(12).hex(),
                     "delete" if self._member(lab, f) else None)

    def check(self, lab):
        f = self.facts(lab.stack)
        found = []
        password = Path(f["password_file"]).read_text().strip()
        if not signs_in(lab, f["identity"], f["portal"], f["uid"], password):
            found.append(_("{uid} cannot sign in at {portal} with the password on record")
                         .format(**f))
        if not self._member(lab, f):
            found.append(_("{uid} is not in the group {group}: the portal refuses him {title}")
                         .format(**f))
        return found + lab.failures(["test_lab_account_signs_in_at_the_portal",
                                     "test_portal_services_run"], [f["identity"]])

    def solve(self, lab):
        f = self.facts(lab.stack)
        self._change(lab, f, Path(f["password_file"]).read_text().strip(),
                     None if self._member(lab, f) else "add")


# ---- an administrator's key added, another taken away -------------------------------------

ACCESS_KEY = f"{PROJECT}:access"
NEWCOMER, LEAVER = "rina", "budi"


def key_files(lab: Lab, who: str) -> tuple[Path, str]:
    """A person's key pair for the exercise (made once, kept in the course's folder): the
    private key's path and the public key's line."""
    folder = lab.folder / "keys"
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    key = folder / f"{who}_ed25519"
    if not key.exists():
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C",
                        f"{who}@diskominfo.{lab.stack.domain}", "-f", str(key)], check=True)
    return key, key.with_name(key.name + ".pub").read_text().strip()


def _body(key_line: str) -> str:
    return key_line.split()[1]


def with_key(text: str, key_line: str) -> str:
    """The stack file's text with one more administrator's key under access.adminKeys,
    comments and layout kept."""
    lines = text.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines)
                  if re.match(rf"^\s*{re.escape(ACCESS_KEY)}:\s*(#.*)?$", line.rstrip("\n"))),
                 None)
    if start is None:
        raise TrainingError(_("the stack file has no block {key}").format(key=ACCESS_KEY))
    indent = len(lines[start]) - len(lines[start].lstrip(" "))
    child, keys_at, end = None, None, len(lines)
    for j in range(start + 1, len(lines)):
        stripped = lines[j].strip()
        if not stripped or stripped.startswith("#"):
            continue
        at = len(lines[j]) - len(lines[j].lstrip(" "))
        if at <= indent:
            end = j
            break
        child = at if child is None else child
        if at == child and stripped.startswith("adminKeys:"):
            keys_at = j
    child = child if child is not None else indent + 2
    item = " " * (child + 2) + "- " + json.dumps(key_line) + "\n"
    if keys_at is None:
        return "".join(lines[:start + 1] + [" " * child + "adminKeys:\n", item]
                       + lines[start + 1:])
    if lines[keys_at].split(":", 1)[1].strip() in ("[]", ""):
        lines[keys_at] = " " * child + "adminKeys:\n"
    after = keys_at + 1
    while after < end and (not lines[after].strip() or lines[after].lstrip().startswith("- ")
                           and len(lines[after]) - len(lines[after].lstrip(" ")) >= child):
        after += 1
    return "".join(lines[:after] + [item] + lines[after:])


def without_key(text: str, key_line: str) -> str:
    """The stack file's text without the list item that holds this key (and without the
    adminKeys line, when no key is left under it)."""
    body = _body(key_line)
    lines = [line for line in text.splitlines(keepends=True)
             if not (line.lstrip().startswith("- ") and body in line)]
    for i, line in enumerate(lines):
        if re.match(r"^\s*adminKeys:\s*$", line):
            at = len(line) - len(line.lstrip(" "))
            rest = next((n for n in lines[i + 1:] if n.strip()), "")
            if not (rest.lstrip().startswith("- ") and len(rest) - len(rest.lstrip(" ")) >= at):
                return "".join(lines[:i] + lines[i + 1:])
    return "".join(lines)


class AdminKey(Exercise):
    id = "admin-key"
    number = 6
    minutes = 25
    changes_project = True
    title = N_("An administrator's key added, another taken away")
    brief = N_(
        "Budi has left Diskominfo; Rina joins the infrastructure team today. Rina's public "
        "key is {rina_pub} (her private key is beside it, for trying it out). Give Rina "
        "administrator access ({user}) to every node and take Budi's away, so that it stays "
        "so after every converge. `egov training reset {number}` puts the stack file back "
        "afterwards.")
    hints = (
        N_("The administrators' keys are access.adminKeys in the stack file {stack_file}; "
           "`egov validate lab` checks the file after you edit it."),
        N_("A converge writes exactly the stack's keys (and the lab's own) into "
           "~{user}/.ssh/authorized_keys on every node: after changing the stack file, `egov "
           "inventory lab`, then `egov converge lab` (the keys are on every node)."),
        N_("Try it as Rina: a copy of the stack's SSH config ({ssh_config}) with her key as "
           "IdentityFile, then `ssh -F <copy> {node} true`."),
    )

    def facts(self, stack):
        keys = state_dir(stack.name) / "training" / "keys"
        return {"user": stack.access.admin_user, "number": self.number,
                "rina_pub": str(keys / f"{NEWCOMER}_ed25519.pub"),
                "stack_file": stack.file, "ssh_config": str(access.ssh_config(stack)),
                "node": stack.nodes_with(Role.app)[0].name
                if stack.nodes_with(Role.app) else stack.bastion.name}

    def nodes(self, lab):
        return [n.name for n in lab.stack.nodes]

    def _write_stack(self, lab: Lab, text: str) -> None:
        from egov import inventory
        path = stack_file(lab.root, lab.stack.name)
        try:
            parse_stack(yaml.safe_load(text), name=lab.stack.name, file=lab.stack.file)
        except StackError as exc:
            raise TrainingError(exc.render()) from None
        path.write_text(text, encoding="utf-8")
        inventory.write(lab.reload(), lab.root)

    def _on_nodes(self, lab: Lab, script: str, key_lines: list[str]) -> None:
        for node in self.nodes(lab):
            res = lab.run(node, script, input="\n".join(key_lines) + "\n")
            if res.returncode != 0:
                raise TrainingError(_("{node}: the administrator's keys were not changed: "
                                      "{output}").format(node=node, output=res.stderr.strip()))

    def start(self, lab):
        _key, rina = key_files(lab, NEWCOMER)
        _key, budi = key_files(lab, LEAVER)
        text = stack_file(lab.root, lab.stack.name).read_text(encoding="utf-8")
        if _body(budi) in text or _body(rina) in text:
            raise TrainingError(_("the stack file names a key of this exercise already: "
                                  "`egov training reset {number}` first").format(
                                      number=self.number))
        lab.data["stack_text"] = text
        self._write_stack(lab, with_key(text, budi))
        # As the converge that gave Budi his access left the nodes.
        self._on_nodes(lab, "read -r k; grep -qxF \"$k\" ~/.ssh/authorized_keys || "
                            "printf '%s\\n' \"$k\" >> ~/.ssh/authorized_keys", [budi])

    def _ssh_config_of(self, lab: Lab, key: Path) -> Path:
        text = access.ssh_config(lab.stack).read_text()
        text = re.sub(r"(?m)^(\s*)IdentityFile .*$", rf"\g<1>IdentityFile {key}", text)
        text = re.sub(r"(?m)^(\s*)ControlMaster .*$", r"\g<1>ControlMaster no", text)
        text = re.sub(r"(?m)^(\s*)ControlPath .*$", r"\g<1>ControlPath none", text)
        text = re.sub(r"(?m)^\s*ControlPersist .*\n", "", text)
        path = key.with_name(key.name + ".ssh_config")
        path.write_text(text)
        os.chmod(path, 0o600)
        return path

    def check(self, lab):
        rina_key, rina = key_files(lab, NEWCOMER)
        _key, budi = key_files(lab, LEAVER)
        stack = lab.reload()
        found = []
        listed = {_body(k) for k in stack.access.admin_keys}
        if _body(rina) not in listed:
            found.append(_("the stack file does not list Rina's key under access.adminKeys"))
        if _body(budi) in listed:
            found.append(_("the stack file still lists Budi's key under access.adminKeys"))
        without_rina, with_budi = [], []
        for node in self.nodes(lab):
            keys = lab.run(node, "cat ~/.ssh/authorized_keys").stdout
            if _body(rina) not in keys:
                without_rina.append(node)
            if _body(budi) in keys:
                with_budi.append(node)
        if without_rina:
            found.append(_("Rina's key is not accepted on: {nodes}").format(
                nodes=", ".join(without_rina)))
        if with_budi:
            found.append(_("Budi's key is still accepted on: {nodes}").format(
                nodes=", ".join(with_budi)))
        if not without_rina:
            node = self.facts(stack)["node"]
            login = subprocess.run(
                ssh_argv(self._ssh_config_of(lab, rina_key), node, ["true"],
                         options=["-o", "BatchMode=yes", "-o", "ConnectTimeout=10"]),
                capture_output=True, text=True, timeout=60)
            if login.returncode != 0:
                found.append(_("Rina cannot log in to {node} through the bastion with her key: "
                               "{error}").format(node=node, error=login.stderr.strip()[-300:]))
        return found

    def solve(self, lab):
        _key, rina = key_files(lab, NEWCOMER)
        _key, budi = key_files(lab, LEAVER)
        text = stack_file(lab.root, lab.stack.name).read_text(encoding="utf-8")
        self._write_stack(lab, without_key(with_key(text, rina), budi))
        lab.converge()

    def reset(self, lab):
        _key, rina = key_files(lab, NEWCOMER)
        _key, budi = key_files(lab, LEAVER)
        if "stack_text" in lab.data:
            self._write_stack(lab, lab.data["stack_text"])
        else:
            text = stack_file(lab.root, lab.stack.name).read_text(encoding="utf-8")
            self._write_stack(lab, without_key(without_key(text, rina), budi))
        # What the next converge would leave: the stack's keys only. The lab's own key stays,
        # and a file that would be left without any key is not written.
        self._on_nodes(lab, RESET_KEYS, [_body(rina), _body(budi)])


# Every line of the administrator's authorized_keys but those holding a key body read from
# standard input; refused when no key would be left.
RESET_KEYS = """keys=~/.ssh/authorized_keys
grep -vF -f /dev/stdin "$keys" > "$keys.training"
if [ -s "$keys.training" ]; then
    cat "$keys.training" > "$keys"; rm -f "$keys.training"
else
    rm -f "$keys.training"; echo "no key would be left in $keys" >&2; exit 1
fi
"""
