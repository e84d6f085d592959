"""The LTI 1.3 tool: how an LMS (Moodle, Canvas, ...) launches the service, links its
courses and placements to courses and assignments, and receives the scores.

Everything here is free of Flask but `views` (the thin HTTP side):

    keys          the tool's RSA keys: made on first use, rotated, published, signing
    platforms     the registered LMSs and their deployments (the command line, the API)
    platform_keys a platform's published keys, fetched over HTTP and cached as told
    messages      the checks an id_token passes before anything trusts it
    launch        OIDC login initiation, and a checked launch turned into a user, a
                  course, an enrolment and the assignment to open
    links         linking a new placement to an assignment (the instructor's page)
    deep_linking  Deep Linking 2.0: the request kept, the signed response
    memberships   Names and Role Provisioning: the roster pulled from the LMS
    outbox        the score passback jobs, written with the attempt; the worker's claim
    services      the LMS's services: access tokens, line items, scores, memberships
    worker        `grader worker`: runs the passback jobs
    views         /lti/login, /lti/launch, /lti/jwks, /lti/config.json and the pages
"""
