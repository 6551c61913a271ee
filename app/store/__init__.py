"""Durable records that several layers write: the secret store, the audit writer, connection credentials.

It sits below rotation, reads, auth and services, so each of them can write these records without
importing another.
"""
