-- compatible-with: 1
-- Reserved for the security tables; filled by the change that adds them.
SELECT 1;
