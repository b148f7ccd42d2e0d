-- Type is at most 50 characters after trimming, and upper-casing it can turn one character into
-- three (ﬃ → FFI, ΐ → Ϊ́): nvarchar(150) keeps every Type the worker accepts, where 100 would
-- refuse a long one (the page batch's OPENJSON … WITH would even cut it silently).
ALTER TABLE dbo.ParcelStates ALTER COLUMN Type nvarchar(150) NOT NULL;
