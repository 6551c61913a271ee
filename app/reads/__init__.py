"""The consumer read path: what the Infisical SDKs read, and what keeps those reads fast and honest.

- service.py: the two reads the routes call (one secret, a list), with the cache and the read audit around them
- query.py: the read API's query string, as the SDKs send it
- secrets.py: find and render secrets for a caller (project 404, permission, environment, secret)
- cache.py: in-process cache of authenticated callers and rendered reads
- change_feed.py: tells the cache when anything it holds has changed, in any process
- audit.py: value reads counted and written to the audit log off the request path
"""
