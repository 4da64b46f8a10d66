"""Open311 GeoReport v2 on intake: the service list, service definitions and service requests.

Pure mapping and rendering in their own modules (`services`: the service list and definitions;
`form`: a POSTed form to a raw record; `service_requests`: a stored ticket to a request object;
`query`: GET requests' filters; `render`: JSON and XML; `errors`: the GeoReport error); `routes`
only reads the HTTP request, calls them and intake's use cases (`hotline.intake.app`), and
answers. Spec: wiki.open311.org/GeoReport_v2. The caller's phone and name go into the raw record
for the handling unit and are never part of any answer.
"""
