"""The mandatory policy pack of the data centre (run by `pulumi preview --policy-pack`)."""
