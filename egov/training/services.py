"""Exercises on the services' life: a new agency's service onboarded end to end, and the
database failover declared for the prod rehearsal."""

from __future__ import annotations

import shutil

from egov.i18n import N_, _
from egov.model import Relation, Role, Stack, stack_file
from egov.training.base import Exercise, Lab, NotAvailable, TrainingError

# ---- a new agency's service, end to end -----------------------------------------------------

NEW = {"name": "bansos", "title": "Sistem Informasi Bantuan Sosial", "agency": "Dinas Sosial",
       "relation": Relation.G2C}
# What `egov verify` checks of a service, on its nodes and on the nodes that serve it.
SERVICE_CHECKS = [
    "test_each_service_runs_as_its_own_user_from_its_own_environment",
    "test_each_service_listens_on_the_home_address_only",
    "test_secrets_are_readable_by_the_service_user_only",
    "test_each_service_answers_health_and_metrics",
    "test_each_service_enforces_its_access_policy",
    "test_gateway_holds_a_certificate_per_public_name",
    "test_prometheus_scrapes_every_service",
    "test_each_service_has_its_database_and_role",
    "test_a_timer_per_service_database",
]


def serving_nodes(stack: Stack, app_nodes: list[str]) -> list[str]:
    """The nodes a service's deployment changes: its app nodes and every node with a role
    that serves the services (gateway, SSO, database, backup, monitoring, DNS, the CA);
    not the bastion, not the other app nodes."""
    passive = {Role.app, Role.bastion}
    return [n.name for n in stack.nodes
            if n.name in app_nodes or set(n.roles) - passive]


class Onboarding(Exercise):
    id = "onboarding"
    number = 10
    minutes = 45
    changes_project = True
    title = N_("A new agency's service, end to end")
    brief = N_(
        "The {agency} asks to put its service \"{title}\" online for citizens. Onboard it as "
        "the platform's service {name}: relation G2C (citizens sign in through the city's SSO), "
        "running on {node}, with a database that is backed up every night. When you are done, "
        "a citizen who opens {url}/ through the gateway is sent to the portal "
        "to sign in, and the service is monitored and verified like the others. `egov training "
        "reset {number}` takes it out again afterwards.")
    hints = (
        N_("`egov service new --help`; the guide docs/id/layanan-baru.md walks through it. It "
           "writes the manifest into the stack file and the service's card into "
           "services/{name}/."),
        N_("`egov up lab` deploys what the stack file now says (database, SSO client, route, "
           "certificate, monitoring, backup); on a lab already up, `egov inventory lab` then "
           "`egov converge lab` does the same."),
        N_("`egov verify lab` checks the new service like the others; this exercise's check "
           "runs those checks on the nodes involved."),
    )

    def facts(self, stack):
        apps = stack.nodes_with(Role.app)
        return {**NEW, "relation": NEW["relation"].value,
                "url": stack.public_url(f"{NEW['name']}.{stack.domain}"),
                "number": self.number, "node": apps[0].name if apps else "app1"}

    def _app_nodes(self, stack: Stack) -> list[str]:
        return [n.name for n in stack.nodes_with(Role.app)]

    def start(self, lab):
        name = NEW["name"]
        if any(s.name == name for s in lab.stack.services):
            raise TrainingError(_("the stack already has a service {name}: `egov training reset "
                                  "{number}` first").format(name=name, number=self.number))
        lab.data.update({"stack_text": stack_file(lab.root, lab.stack.name).read_text(
            encoding="utf-8"), "had_card": (lab.root / "services" / name).exists()})

    def check(self, lab):
        f = self.facts(lab.stack)
        stack = lab.reload()
        svc = next((s for s in stack.services if s.name == f["name"]), None)
        if svc is None:
            return [_("the stack file has no service {name} yet").format(**f)]
        found = []
        if svc.relation != NEW["relation"]:
            found.append(_("{name} has the relation {relation}: citizens use G2C services")
                         .format(name=svc.name, relation=svc.relation.value))
        if not svc.database:
            found.append(_("{name} has no database").format(**f))
        card = lab.root / "services" / svc.name / "README.md"
        if not card.exists():
            found.append(_("{name} has no card in services/{name}/").format(**f))
        nodes = [*svc.nodes, *(n.name for role in (Role.gateway, Role.monitoring, Role.database,
                                                   Role.backup) for n in stack.nodes_with(role))]
        return found + lab.failures(SERVICE_CHECKS, nodes)

    def solve(self, lab):
        from egov.onboarding import NewService, new_service
        f = self.facts(lab.stack)
        new_service(lab.root, lab.stack.name, NewService(
            name=f["name"], relation=f["relation"], title=f["title"], agency=f["agency"],
            nodes=[f["node"]]))
        lab.converge(*serving_nodes(lab.reload(), [f["node"]]))

    def reset(self, lab):
        name = NEW["name"]
        listed = any(s.name == name for s in lab.reload().services)
        deployed = [n for n in self._app_nodes(lab.stack)
                    if lab.run(n, f"systemctl cat egov-{name}").returncode == 0]
        if "stack_text" in lab.data:
            stack_file(lab.root, lab.stack.name).write_text(lab.data["stack_text"],
                                                            encoding="utf-8")
        elif listed:
            raise TrainingError(_("the stack file lists {name} and the exercise kept no copy of "
                                  "the file from before: take {name} out of it by hand, then "
                                  "`egov converge lab`").format(name=name))
        if not lab.data.get("had_card", True) or "stack_text" not in lab.data:
            shutil.rmtree(lab.root / "services" / name, ignore_errors=True)
        lab.reload()
        if listed or deployed:
            # The converge takes the service off its nodes (unit, route, certificate, SSO
            # client, backup timer) and locks its database role.
            lab.converge(*serving_nodes(lab.stack, self._app_nodes(lab.stack)))
        else:
            from egov import inventory
            inventory.write(lab.stack, lab.root)


# ---- the database failover, on the prod rehearsal ------------------------------------------


class DatabaseFailover(Exercise):
    id = "database-failover"
    number = 11
    minutes = 45
    counted = False
    title = N_("A database failover (prod rehearsal)")
    brief = N_(
        "On the rehearsal of prod, the primary database node is lost while citizens file "
        "requests. Watch the standby take over, confirm that no acknowledged request was "
        "lost, and bring the lost node back as the new standby.")
    hints = (
        N_("This exercise runs on the rehearsal of prod (`egov rehearse prod`), where the "
           "database is a cluster of several nodes; the lab has one database node."),
    )

    def available(self, stack):
        if len(stack.nodes_with(Role.database)) < 2:
            return _("needs the prod rehearsal (a database cluster of two nodes or more); no "
                     "rehearsal is running")
        return _("needs the prod rehearsal: its steps are written with the rehearsal")

    def _refuse(self, lab: Lab):
        raise NotAvailable(self.available(lab.stack))

    start = check = solve = reset = _refuse
