"""Users, role bindings, passwords, logins and the actors built from them."""
