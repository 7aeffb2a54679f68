-- journal_flags has exactly the columns of `flags` (same names, types and order), so `flags` can
-- union its rows and `footfall flags` shows them. Returns each column that differs.
with

journal as (

    select column_name, data_type, ordinal_position
    from information_schema.columns
    where table_name = 'journal_flags'

),

main as (

    select column_name, data_type, ordinal_position
    from information_schema.columns
    where table_name = 'flags'

)

select
    coalesce(j.column_name, m.column_name) as column_name,
    j.data_type as journal_type,
    m.data_type as flags_type,
    j.ordinal_position as journal_position,
    m.ordinal_position as flags_position

from journal as j
full outer join main as m on m.column_name = j.column_name
where j.column_name is null
   or m.column_name is null
   or j.data_type <> m.data_type
   or j.ordinal_position <> m.ordinal_position
