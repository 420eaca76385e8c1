-- Product holdings: each customer once per kind of account and kind of card held.
CREATE TEMP TABLE customer_holdings ON COMMIT DROP AS
SELECT DISTINCT a.branch_id, a.customer_token, 'account:' || coalesce(a.account_type, 'unknown') AS product
FROM analytics.accounts a WHERE a.customer_token IS NOT NULL
UNION
SELECT DISTINCT k.branch_id, coalesce(k.customer_token, a.customer_token),
       'card:' || coalesce(k.card_type, 'unknown')
FROM analytics.cards k
LEFT JOIN analytics.accounts a ON a.branch_id = k.branch_id AND a.account_token = k.account_token
WHERE coalesce(k.customer_token, a.customer_token) IS NOT NULL;
