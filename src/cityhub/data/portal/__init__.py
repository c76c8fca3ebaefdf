"""数 open portal: public users and applications, the CKAN Action API, DCAT-AP, downloads, public SQL, pages."""
