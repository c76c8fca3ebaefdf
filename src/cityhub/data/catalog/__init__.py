"""数 catalog: entries, their review and versions, the visibility rule, search (jieba + pinyin) and tags."""
