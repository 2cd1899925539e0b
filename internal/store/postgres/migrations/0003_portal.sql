-- compatible-with: 1
-- Reserved for the portal tables; filled by the change that adds them.
SELECT 1;
