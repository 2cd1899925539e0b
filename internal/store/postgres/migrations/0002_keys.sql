-- compatible-with: 1
-- Reserved for the keys tables; filled by the change that adds them.
SELECT 1;
