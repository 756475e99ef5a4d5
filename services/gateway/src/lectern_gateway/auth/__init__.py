"""Who the user is: OIDC JWTs verified against their issuer's keys, and the dev login."""
