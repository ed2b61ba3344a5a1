module github.com/heraldlb/herald

go 1.26.0

require github.com/google/btree v1.1.3
