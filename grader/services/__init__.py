"""The service's use cases, one module each, between their callers (the JSON API, the
command line) and the database. None of them touches a request or imports
Flask: each takes a session and the `Caller`, checks access, and raises the errors of
`grader.services.errors`. A use case that writes is one transaction, drawn at its top
(`grader.services.transactions`); the helpers it calls never commit.

    accounts      users, tokens, the caller of a request
    exercises     the exercise bank
    variants      the numbers each user is given
    attempts      grading, numbered storage, idempotent replay
    practice      open practice
    courses       courses, rosters, assignments, who may see whom
    assignments   a student's side of an assignment
    solutions     worked solutions for instructors
    gradebook     best scores per student and assignment

and what they share: errors (the refusals), transactions (the boundary), rows (what
the submit path reads, as plain rows), feedback_policy (what a student is shown).
"""
