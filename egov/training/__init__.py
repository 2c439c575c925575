"""A hands-on course on the lab: `egov training list | start N | check | hint | reset |
report`.

Each exercise (egov.training.base.Exercise) breaks or prepares something on the running lab
the way real incidents do; the trainee repairs it with the ordinary tools (SSH through the
bastion, the stack file, `egov`); its check says what is still wrong, reusing the checks of
`egov verify` where they exist. Progress is kept per trainee in the stack's state folder,
and `egov training report` writes the record of completed exercises (Markdown and HTML) an
auditor can attach as evidence of competent staff (Peraturan BSSN No. 4/2021, Pasal 14).

The package itself imports nothing, so that `egov` registers the commands
(egov.training.cli) without loading the exercises; egov.training.course lists them.
"""
