"""Patient identity: the French identity-vigilance rules (RNIV) the booklet asks for.

``traits`` reads the five strict traits and the identity status out of a
Patient; ``names`` compares names the way identity-vigilance does;
``matching`` grades a candidate record against searched traits; ``rules``
enforces the MRTC Patient rules on every write; ``contact`` validates and
normalises e-mail and phone numbers; ``family`` keeps family links
symmetric; ``sheet`` renders the identity sheet (PDF).
"""
