"""``forge deploy``: ship what changed to Lambda.

Three modules, one job each: ``aws`` makes the boto3 clients (imported only here, lazily) and
turns AWS failures into one-line ``DeployError``s; ``plan`` reads the live state and decides,
field by field, what would change; ``apply`` carries a plan out (publish layers, create or
update functions, wait, retry conflicts). Nothing is written before the whole plan is known.
"""
