-- stg_files: the files each sync read, with where they are and what became of them.
-- grain: one row per distinct file content read (a problem entry for an unreadable one); key: file_id
-- units: size_bytes bytes; landed_at naive UTC
-- rules: file_path is the file on disk, with the member inside an archive after '!'
--        (path!member), as the sync prints it.
-- variables: none

create or replace view stg_files as

with

files as (

    select * from files

),

final as (

    select
        file_id,
        athlete_id,
        path || coalesce('!' || member, '') as file_path,
        format,
        status,
        reason,
        size_bytes,
        landed_at

    from files

)

select * from final
