package randomusertest

// Static data of the generator. The lists are our own, written for this
// package (not copied from the API); they follow the API's conventions: the
// country names of its "country" field, native script for IR, Latin with
// diacritics for RS, Latin transliteration for UA. Strings must not need
// JSON escaping (no quotes, backslashes or control characters); a test
// checks this, since the writers copy them verbatim for speed.

// natSource holds the lists of one nationality, each a "|"-separated
// string. phone, cell and postcode are templates (see compileTemplate):
// "#" a digit, "%" a digit 2-9, "@" a letter A-Z, "[abc]" one of a, b, c,
// anything else itself; "|" separates alternatives picked uniformly.
type natSource struct {
	code, country           string
	male, female, last      string
	streets, cities, states string
	phone, cell             string
	postcode                string // template(s); "" for numeric postcodes
	postMin, postMax        int    // numeric postcode range
	idName                  string
}

// natSources are the 21 nationalities of 1.4 in the API's alphabetical
// order (an 18-character seed indexes this order), then LEGO.
var natSources = []natSource{
	{
		code: "AU", country: "Australia",
		male:    "Jack|Oliver|William|Noah|Thomas|James|Lucas|Henry|Charlie|Liam|Ethan|Cooper|Riley|Harrison|Jayden|Lachlan",
		female:  "Charlotte|Olivia|Ava|Mia|Amelia|Isla|Grace|Chloe|Ruby|Sophie|Zoe|Matilda|Emily|Harper|Ella|Lily",
		last:    "Smith|Jones|Williams|Brown|Wilson|Taylor|Johnson|White|Martin|Anderson|Thompson|Nguyen|Thomas|Walker|Harris|Lee|Ryan|Robinson|Kelly|King",
		streets: "George Street|Hunter Street|Elizabeth Street|Lakeview Rd|Parramatta Road|Bourke Street|Collins Street|Pitt Street|Railway Parade|Victoria Road|Oxford Street|Church Street",
		cities:  "Sydney|Melbourne|Brisbane|Perth|Adelaide|Hobart|Darwin|Canberra|Geelong|Newcastle|Wollongong|Cairns|Townsville|Ballarat|Bendigo|Toowoomba",
		states:  "New South Wales|Victoria|Queensland|Western Australia|South Australia|Tasmania|Northern Territory|Australian Capital Territory",
		phone:   "0#-####-####", cell: "04##-###-###",
		postMin: 200, postMax: 9999, idName: "TFN",
	},
	{
		code: "BR", country: "Brazil",
		male:    "João|Pedro|Lucas|Gabriel|Mateus|Rafael|Gustavo|Felipe|Thiago|Bruno|Leonardo|Rodrigo|Vinícius|Caio|Otávio|Márcio",
		female:  "Ana|Maria|Juliana|Beatriz|Larissa|Camila|Fernanda|Letícia|Mariana|Gabriela|Luana|Patrícia|Aline|Vitória|Bruna|Tâmara",
		last:    "Silva|Santos|Oliveira|Souza|Rodrigues|Ferreira|Alves|Pereira|Lima|Gomes|Costa|Ribeiro|Martins|Carvalho|Almeida|Lopes|Araújo|Fernandes|Rocha|Barbosa",
		streets: "Rua Quinze de Novembro|Rua São Jorge|Rua Sete de Setembro|Avenida Brasil|Rua da Paz|Rua Dois|Rua Principal|Rua Rio de Janeiro|Rua Santa Luzia|Avenida Paulista|Rua Tiradentes|Rua das Flores",
		cities:  "São Paulo|Rio de Janeiro|Belo Horizonte|Salvador|Fortaleza|Curitiba|Recife|Porto Alegre|Manaus|Belém|Goiânia|Campinas|Florianópolis|Natal|Maceió|Juiz de Fora",
		states:  "Acre|Alagoas|Amapá|Amazonas|Bahia|Ceará|Distrito Federal|Espírito Santo|Goiás|Maranhão|Mato Grosso|Mato Grosso do Sul|Minas Gerais|Pará|Paraíba|Paraná|Pernambuco|Piauí|Rio de Janeiro|Rio Grande do Norte|Rio Grande do Sul|Rondônia|Roraima|Santa Catarina|São Paulo|Sergipe|Tocantins",
		phone:   "(##) ####-####", cell: "(##) ####-####",
		postMin: 10000, postMax: 99999, idName: "CPF",
	},
	{
		code: "CA", country: "Canada",
		male:    "Liam|Noah|William|Benjamin|Logan|Ethan|Lucas|Jacob|Nathan|Samuel|Félix|Olivier|Mathis|Owen|Hunter|Tristan",
		female:  "Emma|Olivia|Charlotte|Alice|Léa|Chloé|Florence|Maeva|Sophie|Abigail|Emily|Hannah|Zoé|Madison|Juliette|Rosalie",
		last:    "Tremblay|Gagnon|Roy|Côté|Bouchard|Gauthier|Morin|Lavoie|Fortin|Smith|Brown|Martin|Wilson|Campbell|Stewart|MacDonald|Wong|Li|Bélanger|Anderson",
		streets: "Dufferin St|King St|Queen St|Main St|Yonge St|Bay Ave|Lakeshore Rd|Arctic Way|Balmoral St|Concession Road 6|Pine Rd|Coastal Highway",
		cities:  "Toronto|Montréal|Vancouver|Calgary|Edmonton|Ottawa|Winnipeg|Québec|Hamilton|Halifax|Victoria|Saskatoon|Regina|St. John's|Kingston|Fredericton",
		states:  "Alberta|British Columbia|Manitoba|New Brunswick|Newfoundland and Labrador|Northwest Territories|Nova Scotia|Nunavut|Ontario|Prince Edward Island|Québec|Saskatchewan|Yukon",
		// The letters in CA phone numbers are a quirk of the API's generator,
		// kept for compatibility.
		phone: "@## @##-####", cell: "@## @##-####",
		postcode: "@#@ #@#", idName: "SIN",
	},
	{
		code: "CH", country: "Switzerland",
		male:    "Luca|Noah|Leon|Matteo|Elias|Louis|Nino|Lukas|Julien|Marco|Yannick|Fabian|Adrian|Rémy|Gérard|Didier",
		female:  "Mia|Emma|Lina|Mila|Elena|Lara|Léonie|Chiara|Nathalie|Sophie|Manon|Anaïs|Céline|Laura|Nicole|Jasmin",
		last:    "Müller|Meier|Schmid|Keller|Weber|Huber|Schneider|Meyer|Steiner|Fischer|Gerber|Brunner|Baumann|Favre|Rochat|Rossi|Bernasconi|Moser|Frei|Lambert",
		streets: "Bahnhofstrasse|Rue de la Gare|Kirchweg|Dorfstrasse|Rue du Lac|Schulstrasse|Rue des Alpes|Via Nassa|Seestrasse|Rue Centrale|Hauptstrasse|Chemin des Vignes",
		cities:  "Zürich|Genève|Basel|Lausanne|Bern|Winterthur|Luzern|St. Gallen|Lugano|Biel|Thun|Fribourg|Neuchâtel|Sion|Chur|Schaffhausen",
		states:  "Aargau|Appenzell Ausserrhoden|Appenzell Innerrhoden|Basel-Landschaft|Basel-Stadt|Bern|Fribourg|Genève|Glarus|Graubünden|Jura|Luzern|Neuchâtel|Nidwalden|Obwalden|Schaffhausen|Schwyz|Solothurn|St. Gallen|Thurgau|Ticino|Uri|Valais|Vaud|Zug|Zürich",
		phone:   "07[56789] ### ## ##", cell: "07[56789] ### ## ##",
		postMin: 1000, postMax: 9999, idName: "AVS",
	},
	{
		code: "DE", country: "Germany",
		male:    "Lukas|Leon|Finn|Jonas|Paul|Felix|Maximilian|Tobias|Jürgen|Uwe|Stefan|Matthias|Dirk|Jörg|Klaus|Björn",
		female:  "Anna|Lena|Leonie|Hannah|Sophie|Marie|Johanna|Katrin|Sabine|Ursula|Jutta|Birgit|Heike|Gisela|Käthe|Renate",
		last:    "Müller|Schmidt|Schneider|Fischer|Weber|Meyer|Wagner|Becker|Schulz|Hoffmann|Schäfer|Koch|Bauer|Richter|Klein|Wolf|Schröder|Neumann|Schwarz|Zimmermann",
		streets: "Hauptstraße|Schulstraße|Gartenstraße|Bahnhofstraße|Dorfstraße|Bergstraße|Birkenweg|Lindenstraße|Kirchstraße|Waldstraße|Ringstraße|Goethestraße",
		cities:  "Berlin|Hamburg|München|Köln|Frankfurt am Main|Stuttgart|Düsseldorf|Leipzig|Dortmund|Essen|Bremen|Dresden|Hannover|Nürnberg|Duisburg|Bochum",
		states:  "Baden-Württemberg|Bayern|Berlin|Brandenburg|Bremen|Hamburg|Hessen|Mecklenburg-Vorpommern|Niedersachsen|Nordrhein-Westfalen|Rheinland-Pfalz|Saarland|Sachsen|Sachsen-Anhalt|Schleswig-Holstein|Thüringen",
		phone:   "0###-#######", cell: "017#-#######",
		postMin: 10000, postMax: 99999, idName: "SVNR",
	},
	{
		code: "DK", country: "Denmark",
		male:    "William|Noah|Oscar|Lucas|Victor|Malthe|Emil|Frederik|Magnus|Mads|Søren|Jens|Rasmus|Anders|Niels|Kasper",
		female:  "Emma|Ida|Clara|Freja|Sofie|Alma|Anna|Karla|Mathilde|Laura|Line|Mette|Astrid|Signe|Maja|Birgitte",
		last:    "Nielsen|Jensen|Hansen|Pedersen|Andersen|Christensen|Larsen|Sørensen|Rasmussen|Jørgensen|Petersen|Madsen|Kristensen|Olsen|Thomsen|Christiansen|Poulsen|Johansen|Møller|Mortensen",
		streets: "Østergade|Vestergade|Nørregade|Søndergade|Kirkevej|Skolevej|Møllevej|Strandvejen|Engvej|Bøgevej|Egevej|Havnegade",
		cities:  "København|Aarhus|Odense|Aalborg|Esbjerg|Randers|Kolding|Horsens|Vejle|Roskilde|Herning|Silkeborg|Næstved|Fredericia|Viborg|Holbæk",
		states:  "Hovedstaden|Midtjylland|Nordjylland|Sjælland|Syddanmark",
		phone:   "########", cell: "########",
		postMin: 10000, postMax: 99999, idName: "CPR",
	},
	{
		code: "ES", country: "Spain",
		male:    "Hugo|Martín|Lucas|Mateo|Daniel|Pablo|Alejandro|Álvaro|Javier|Sergio|Adrián|Diego|Jorge|Manuel|Raúl|Iván",
		female:  "Lucía|Sofía|Martina|María|Paula|Julia|Valeria|Carmen|Elena|Laura|Irene|Alba|Nerea|Marta|Silvia|Inés",
		last:    "García|Rodríguez|González|Fernández|López|Martínez|Sánchez|Pérez|Gómez|Martín|Jiménez|Ruiz|Hernández|Díaz|Moreno|Muñoz|Álvarez|Romero|Alonso|Gutiérrez",
		streets: "Calle Mayor|Calle de Alcalá|Avenida de la Constitución|Calle del Arenal|Paseo de Extremadura|Calle de la Luna|Calle de Toledo|Avenida del Puerto|Calle Nueva|Calle de Segovia|Ronda de Valencia|Calle del Prado",
		cities:  "Madrid|Barcelona|Valencia|Sevilla|Zaragoza|Málaga|Murcia|Palma de Mallorca|Bilbao|Alicante|Córdoba|Valladolid|Vigo|Gijón|Granada|Santander",
		states:  "Andalucía|Aragón|Asturias|Islas Baleares|Canarias|Cantabria|Castilla y León|Castilla-La Mancha|Cataluña|Comunidad de Madrid|Comunidad Valenciana|Extremadura|Galicia|La Rioja|Murcia|Navarra|País Vasco|Ceuta|Melilla",
		phone:   "9##-###-###", cell: "6##-###-###",
		postMin: 10000, postMax: 99999, idName: "DNI",
	},
	{
		code: "FI", country: "Finland",
		male:    "Eino|Väinö|Onni|Leo|Elias|Oliver|Veeti|Aleksi|Juho|Mikko|Jukka|Matti|Tuomas|Joonas|Lauri|Niklas",
		female:  "Aino|Sofia|Helmi|Eevi|Linnea|Emma|Venla|Iida|Aada|Ella|Siiri|Anni|Jenni|Minttu|Elina|Säde",
		last:    "Korhonen|Virtanen|Mäkinen|Nieminen|Mäkelä|Hämäläinen|Laine|Heikkinen|Koskinen|Järvinen|Lehtonen|Lehtinen|Saarinen|Salminen|Heinonen|Niemi|Heikkilä|Kinnunen|Salonen|Tuominen",
		streets: "Hämeenkatu|Mannerheimintie|Aleksanterinkatu|Pispalan Valtatie|Rautatienkatu|Esplanadi|Tehtaankatu|Satakunnankatu|Kauppakatu|Hallituskatu|Nokiantie|Otavalankatu",
		cities:  "Helsinki|Espoo|Tampere|Vantaa|Oulu|Turku|Jyväskylä|Lahti|Kuopio|Pori|Kouvola|Joensuu|Lappeenranta|Hämeenlinna|Vaasa|Rovaniemi",
		states:  "Uusimaa|Varsinais-Suomi|Satakunta|Kanta-Häme|Pirkanmaa|Päijät-Häme|Kymenlaakso|Etelä-Karjala|Etelä-Savo|Pohjois-Savo|Pohjois-Karjala|Keski-Suomi|Etelä-Pohjanmaa|Pohjanmaa|Keski-Pohjanmaa|Pohjois-Pohjanmaa|Kainuu|Lappi|Ahvenanmaa",
		phone:   "0[23456789]-###-###", cell: "04#-###-##-##",
		postMin: 10000, postMax: 99999, idName: "HETU",
	},
	{
		code: "FR", country: "France",
		male:    "Gabriel|Louis|Raphaël|Jules|Adam|Lucas|Léo|Hugo|Arthur|Nathan|Théo|Mathéo|Clément|Quentin|Maxime|Antoine",
		female:  "Louise|Emma|Jade|Alice|Chloé|Lina|Léa|Manon|Inès|Camille|Juliette|Zoé|Océane|Élodie|Margaux|Anaïs",
		last:    "Martin|Bernard|Dubois|Thomas|Robert|Richard|Petit|Durand|Leroy|Moreau|Simon|Laurent|Lefebvre|Michel|Garcia|David|Bertrand|Roux|Vincent|Fournier",
		streets: "Rue de la République|Rue Victor-Hugo|Rue Pasteur|Avenue Jean-Jaurès|Rue de Paris|Place du 8 Février|Rue Saint-Georges|Rue des Écoles|Avenue de la Libération|Rue du Château|Boulevard Voltaire|Rue Principale",
		cities:  "Paris|Marseille|Lyon|Toulouse|Nice|Nantes|Strasbourg|Montpellier|Bordeaux|Lille|Rennes|Reims|Le Havre|Saint-Étienne|Toulon|Grenoble",
		states:  "Ain|Aisne|Allier|Ardèche|Aube|Bouches-du-Rhône|Calvados|Charente|Côte-d'Or|Dordogne|Doubs|Finistère|Gironde|Haute-Garonne|Hérault|Isère|Loire-Atlantique|Moselle|Nord|Paris|Pas-de-Calais|Rhône|Seine-Maritime|Var|Vendée",
		phone:   "0[12345]-##-##-##-##", cell: "06-##-##-##-##",
		postMin: 10000, postMax: 99999, idName: "INSEE",
	},
	{
		code: "GB", country: "United Kingdom",
		male:    "Oliver|George|Harry|Jack|Jacob|Charlie|Thomas|Oscar|William|James|Alfie|Joshua|Freddie|Archie|Sebastian|Rhys",
		female:  "Amelia|Olivia|Isla|Emily|Poppy|Ava|Isabella|Jessica|Lily|Sophie|Grace|Evie|Megan|Chloe|Holly|Eleanor",
		last:    "Smith|Jones|Taylor|Brown|Williams|Wilson|Johnson|Davies|Robinson|Wright|Thompson|Evans|Walker|White|Roberts|Green|Hall|Wood|Jackson|Clarke|Bailey|O'Brien",
		streets: "High Street|Station Road|Main Street|Park Road|Church Road|Church Street|London Road|Victoria Road|Green Lane|Manor Road|Springfield Road|Kingsway|Queensway|Mill Lane|The Drive|Grange Road",
		cities:  "London|Birmingham|Manchester|Leeds|Sheffield|Bristol|Liverpool|Newcastle upon Tyne|Nottingham|Leicester|Coventry|Bradford|Cardiff|Edinburgh|Glasgow|Worcester",
		states:  "Bedfordshire|Berkshire|Buckinghamshire|Cambridgeshire|Cheshire|Cornwall|Cumbria|Derbyshire|Devon|Dorset|Durham|Essex|Gloucestershire|Hampshire|Kent|Lancashire|Merseyside|Norfolk|Somerset|South Yorkshire|Suffolk|Surrey|Tyne and Wear|West Midlands|West Yorkshire|Wiltshire|Fife|Highlands and Islands|Gwynedd County|Powys|Grampian|Strathclyde|Lothian",
		phone:   "01### ######|01#1 ### ####|011# ### ####|02# #### ####|013873 #####|015242 #####|015394 #####|016977 ####|016977 #####|017687 #####",
		cell:    "07### ######",
		postcode: "@# #[ABDEFGHJLNPQRSTUWXYZ][ABDEFGHJLNPQRSTUWXYZ]|@@# #[ABDEFGHJLNPQRSTUWXYZ][ABDEFGHJLNPQRSTUWXYZ]|@## #[ABDEFGHJLNPQRSTUWXYZ][ABDEFGHJLNPQRSTUWXYZ]|" +
			"@@## #[ABDEFGHJLNPQRSTUWXYZ][ABDEFGHJLNPQRSTUWXYZ]|@@#@ #[ABDEFGHJLNPQRSTUWXYZ][ABDEFGHJLNPQRSTUWXYZ]|@#@ #[ABDEFGHJLNPQRSTUWXYZ][ABDEFGHJLNPQRSTUWXYZ]",
		idName: "NINO",
	},
	{
		code: "IE", country: "Ireland",
		male:    "Jack|James|Noah|Conor|Seán|Daniel|Cian|Oisín|Darragh|Liam|Fionn|Tadhg|Ciarán|Patrick|Eoin|Niall",
		female:  "Emily|Grace|Fiadh|Sophie|Hannah|Amelia|Ava|Ellie|Aoife|Saoirse|Niamh|Caoimhe|Róisín|Siobhán|Clodagh|Orla",
		last:    "Murphy|Kelly|O'Sullivan|Walsh|Smith|O'Brien|Byrne|Ryan|O'Connor|O'Neill|O'Reilly|Doyle|McCarthy|Gallagher|Doherty|Kennedy|Lynch|Murray|Quinn|Moore",
		streets: "Main Street|Church Street|Grafton Street|Patrick Street|Bridge Street|Mill Road|Green Lane|O'Connell Street|Castle Street|The Crescent|Station Road|Pearse Street",
		cities:  "Dublin|Cork|Limerick|Galway|Waterford|Drogheda|Swords|Dundalk|Bray|Navan|Kilkenny|Ennis|Carlow|Tralee|Newbridge|Sligo",
		states:  "Carlow|Cavan|Clare|Cork|Donegal|Dublin|Galway|Kerry|Kildare|Kilkenny|Laois|Leitrim|Limerick|Longford|Louth|Mayo|Meath|Monaghan|Offaly|Roscommon|Sligo|Tipperary|Waterford|Westmeath|Wexford|Wicklow",
		phone:   "0[1234567]1-###-####", cell: "081-###-####",
		postMin: 10000, postMax: 99999, idName: "PPS",
	},
	{
		code: "IN", country: "India",
		male:    "Aarav|Vivaan|Aditya|Vihaan|Arjun|Sai|Reyansh|Ayaan|Krishna|Ishaan|Rohan|Rahul|Vikram|Siddharth|Aniket|Kunal",
		female:  "Saanvi|Aanya|Aadhya|Ananya|Pari|Diya|Isha|Kavya|Priya|Neha|Riya|Sneha|Pooja|Meera|Tanvi|Shreya",
		last:    "Sharma|Verma|Gupta|Singh|Kumar|Patel|Reddy|Nair|Iyer|Menon|Das|Joshi|Mehta|Chopra|Malhotra|Kapoor|Rao|Pillai|Bhat|Shetty",
		streets: "MG Road|Linking Rd|Station Road|Park Street|Brigade Rd|Nehru Road|Gandhi Marg|Anna Salai|Carter Road|Residency Rd|Church Street|Mall Road",
		cities:  "Mumbai|Delhi|Bengaluru|Hyderabad|Ahmedabad|Chennai|Kolkata|Pune|Jaipur|Lucknow|Kanpur|Nagpur|Indore|Bhopal|Patna|Vadodara",
		states:  "Andhra Pradesh|Arunachal Pradesh|Assam|Bihar|Chhattisgarh|Goa|Gujarat|Haryana|Himachal Pradesh|Jharkhand|Karnataka|Kerala|Madhya Pradesh|Maharashtra|Manipur|Meghalaya|Mizoram|Nagaland|Odisha|Punjab|Rajasthan|Sikkim|Tamil Nadu|Telangana|Tripura|Uttar Pradesh|Uttarakhand|West Bengal|Delhi|Chandigarh",
		phone:   "[789]#########", cell: "[789]#########",
		postMin: 10000, postMax: 99999, idName: "UIDAI",
	},
	{
		code: "IR", country: "Iran",
		male:    "آرش|امیر|علی|محمد|رضا|حسین|مهدی|پارسا|سینا|کیان|آرمین|بهراد|پوریا|نیما|سامان|آرین",
		female:  "مریم|زهرا|فاطمه|سارا|نازنین|آیناز|یاسمن|پریا|نیلوفر|هستی|مهسا|الناز|ترانه|رها|باران|شیرین",
		last:    "احمدی|محمدی|حسینی|رضایی|کریمی|موسوی|جعفری|صادقی|رحیمی|کاظمی|نوری|قاسمی|سلطانی|زارعی|یزدانی|شریفی|حیدری|مرادی|عباسی|هاشمی",
		streets: "شهید بهشتی|ولیعصر|آزادی|انقلاب|فلسطین|میدان امام خمینی|کارگر|شریعتی|مطهری|نواب|فاطمی|جمهوری",
		cities:  "تهران|مشهد|اصفهان|کرج|شیراز|تبریز|قم|اهواز|کرمانشاه|ارومیه|رشت|زاهدان|کرمان|همدان|یزد|اردبیل",
		states:  "تهران|اصفهان|فارس|خراسان رضوی|آذربایجان شرقی|آذربایجان غربی|خوزستان|مازندران|گیلان|کرمان|البرز|قم|یزد|همدان|کرمانشاه|اردبیل|سیستان و بلوچستان|هرمزگان|لرستان|کردستان",
		phone:   "0##-########", cell: "09##-###-####",
		postMin: 10000, postMax: 99999,
	},
	{
		code: "MX", country: "Mexico",
		male:    "Santiago|Mateo|Sebastián|Leonardo|Emiliano|Diego|Miguel|José|Juan|Carlos|Luis|Jorge|Alejandro|Ricardo|Fernando|Ramón",
		female:  "Sofía|María José|Valentina|Ximena|Regina|Camila|Renata|Guadalupe|Fernanda|Daniela|Andrea|Mariana|Alejandra|Paola|Verónica|Rosa",
		last:    "Hernández|García|Martínez|López|González|Pérez|Rodríguez|Sánchez|Ramírez|Cruz|Flores|Gómez|Morales|Vázquez|Reyes|Jiménez|Torres|Díaz|Gutiérrez|Ruiz",
		streets: "Avenida Juárez|Calle Hidalgo|Avenida Reforma|Calle Morelos|Calle Zaragoza|Avenida Insurgentes|Calle 5 de Mayo|Calle Allende|Calle Independencia|Calle Madero|Boulevard Díaz Ordaz|Avenida Revolución",
		cities:  "Ciudad de México|Guadalajara|Monterrey|Puebla|Tijuana|León|Juárez|Zapopan|Mérida|San Luis Potosí|Aguascalientes|Hermosillo|Saltillo|Mexicali|Culiacán|Querétaro",
		states:  "Aguascalientes|Baja California|Baja California Sur|Campeche|Chiapas|Chihuahua|Coahuila|Colima|Ciudad de México|Durango|Guanajuato|Guerrero|Hidalgo|Jalisco|Estado de México|Michoacán|Morelos|Nayarit|Nuevo León|Oaxaca|Puebla|Querétaro|Quintana Roo|San Luis Potosí|Sinaloa|Sonora|Tabasco|Tamaulipas|Tlaxcala|Veracruz|Yucatán|Zacatecas",
		phone:   "(6##) ### ####", cell: "(6##) ### ####",
		postMin: 10000, postMax: 99999, idName: "NSS",
	},
	{
		code: "NL", country: "Netherlands",
		male:    "Daan|Sem|Lucas|Levi|Finn|Milan|Bram|Jesse|Thijs|Ruben|Joris|Sven|Pieter|Gijs|Wouter|Stijn",
		female:  "Emma|Julia|Tess|Sophie|Zoë|Anna|Fleur|Sanne|Lotte|Femke|Eva|Anouk|Noor|Mila|Iris|Maartje",
		last:    "de Jong|Jansen|de Vries|van den Berg|van Dijk|Bakker|Janssen|Visser|Smit|Meijer|de Boer|Mulder|de Groot|Bos|Vos|Peters|Hendriks|van Leeuwen|Dekker|Brouwer",
		streets: "Kerkstraat|Schoolstraat|Molenstraat|Dorpsstraat|Stationsweg|Julianastraat|Beatrixlaan|Prinsengracht|Nieuwstraat|Lindelaan|Kastanjelaan|Wilhelminastraat",
		cities:  "Amsterdam|Rotterdam|Den Haag|Utrecht|Eindhoven|Groningen|Tilburg|Almere|Breda|Nijmegen|Apeldoorn|Haarlem|Arnhem|Enschede|Amersfoort|Zwolle",
		states:  "Drenthe|Flevoland|Friesland|Gelderland|Groningen|Limburg|Noord-Brabant|Noord-Holland|Overijssel|Utrecht|Zeeland|Zuid-Holland",
		phone:   "(###)-###-####", cell: "(###)-###-####",
		postMin: 10000, postMax: 99999, idName: "BSN",
	},
	{
		code: "NO", country: "Norway",
		male:    "Jakob|Emil|Noah|Oliver|Filip|William|Lucas|Henrik|Magnus|Sander|Ole|Håkon|Sindre|Eirik|Øystein|Kristian",
		female:  "Nora|Emma|Ella|Maja|Olivia|Sofie|Ingrid|Astrid|Sara|Thea|Kari|Solveig|Ingeborg|Sigrid|Åse|Marte",
		last:    "Hansen|Johansen|Olsen|Larsen|Andersen|Pedersen|Nilsen|Kristiansen|Jensen|Karlsen|Johnsen|Pettersen|Eriksen|Berg|Haugen|Hagen|Johannessen|Andreassen|Jacobsen|Dahl|Bakke|Sæther",
		streets: "Storgata|Kirkeveien|Skolegata|Bjørnstjerne Bjørnsons gate|Parkveien|Strandgata|Haugeveien|Kongens gate|Dronningens gate|Fjellveien|Sjøgata|Nordre gate",
		cities:  "Oslo|Bergen|Trondheim|Stavanger|Drammen|Fredrikstad|Kristiansand|Sandnes|Tromsø|Sarpsborg|Skien|Ålesund|Sandefjord|Haugesund|Tønsberg|Moss",
		states:  "Oslo|Rogaland|Møre og Romsdal|Nordland|Viken|Innlandet|Vestfold og Telemark|Agder|Vestland|Trøndelag|Troms og Finnmark",
		phone:   "[235678]#######", cell: "[49]#######",
		// Real four-digit codes, many with a leading zero: the reason NO
		// postcodes are strings.
		postcode: "0150|0151|0152|0155|0160|0170|0250|0253|0355|0368|0484|0565|0661|0952|1337|1366|1415|1530|1606|2000|2317|2609|3015|3110|3616|4006|4307|4608|5003|5055|6002|6413|7010|7030|8006|9008|9296|9990",
		idName:   "FN",
	},
	{
		code: "NZ", country: "New Zealand",
		male:    "Oliver|Jack|Noah|Leo|George|Charlie|Lucas|William|Hunter|Mason|Liam|Nikau|Tama|Ari|Finn|Hamish",
		female:  "Isla|Charlotte|Olivia|Amelia|Mia|Harper|Ava|Aria|Ruby|Ella|Mila|Zoe|Anahera|Aroha|Kaia|Georgia",
		last:    "Smith|Wilson|Williams|Brown|Taylor|Jones|Singh|Anderson|Thompson|Walker|Campbell|Harris|Robinson|Clark|Ngata|Parata|Tane|Wright|Scott|Mitchell",
		streets: "Queen Street|Victoria Street|Lambton Quay|Cuba Street|Colombo Street|Dominion Road|Great North Road|Ponsonby Road|Karangahape Road|Riccarton Road|Princes Street|Devonport Road",
		cities:  "Auckland|Wellington|Christchurch|Hamilton|Tauranga|Dunedin|Palmerston North|Napier|Nelson|Rotorua|New Plymouth|Whangarei|Invercargill|Whanganui|Gisborne|Timaru",
		states:  "Northland|Auckland|Waikato|Bay of Plenty|Gisborne|Hawke's Bay|Taranaki|Manawatu-Wanganui|Wellington|Tasman|Nelson|Marlborough|West Coast|Canterbury|Otago|Southland",
		phone:   "(###)-###-####", cell: "(###)-###-####",
		postMin: 10000, postMax: 99999,
	},
	{
		code: "RS", country: "Serbia",
		male:    "Aleksa|Luka|Stefan|Nikola|Marko|Lazar|Miloš|Đorđe|Dušan|Nemanja|Vuk|Uroš|Bogdan|Petar|Jovan|Dragan",
		female:  "Milica|Ana|Jelena|Marija|Teodora|Sara|Jovana|Anđela|Katarina|Mina|Tijana|Dragana|Ivana|Snežana|Nevena|Vesna",
		last:    "Jovanović|Petrović|Nikolić|Marković|Đorđević|Stojanović|Ilić|Stanković|Pavlović|Milošević|Popović|Todorović|Đukić|Kostić|Mitrović|Živković|Lazić|Savić|Ristić|Vasić",
		streets: "Knez Mihailova|Bulevar oslobođenja|Nemanjina|Kralja Petra|Cara Dušana|Vojvode Stepe|Zmaj Jovina|Takovska|Gospodara Vučića|Njegoševa|Karađorđeva|Bulevar kralja Aleksandra",
		cities:  "Beograd|Novi Sad|Niš|Kragujevac|Subotica|Zrenjanin|Pančevo|Čačak|Novi Pazar|Kraljevo|Smederevo|Leskovac|Valjevo|Kruševac|Vranje|Šabac",
		states:  "Beograd|Južna Bačka|Nišava|Šumadija|Severna Bačka|Srednji Banat|Južni Banat|Moravica|Raška|Braničevo|Jablanica|Kolubara|Rasina|Pčinja|Mačva|Zlatibor|Bor|Zaječar|Pirot|Toplica",
		phone:   "0[123]#-####-###", cell: "06#-####-###",
		postMin: 10000, postMax: 99999, idName: "SID",
	},
	{
		code: "TR", country: "Turkey",
		male:    "Mehmet|Mustafa|Ahmet|Ali|Hüseyin|Hasan|İbrahim|Murat|Ömer|Emre|Yusuf|Burak|Çağan|Kerem|Oğuz|Eren",
		female:  "Ayşe|Fatma|Emine|Hatice|Zeynep|Elif|Merve|Büşra|Esra|Selin|Özlem|Gül|Şeyma|İrem|Derya|Nur",
		last:    "Yılmaz|Kaya|Demir|Şahin|Çelik|Yıldız|Yıldırım|Öztürk|Aydın|Özdemir|Arslan|Doğan|Kılıç|Aslan|Çetin|Kara|Koç|Kurt|Özkan|Şimşek",
		streets: "Atatürk Cd|Cumhuriyet Cd|İstiklal Cd|Fatih Sultan Mehmet Cd|Bağdat Cd|Kushimoto Sk|Mevlana Cd|Talak Göktepe Cd|Necatibey Cd|Filistin Cd|Vatan Cd|Anafartalar Cd",
		cities:  "İstanbul|Ankara|İzmir|Bursa|Antalya|Adana|Konya|Gaziantep|Şanlıurfa|Kocaeli|Mersin|Diyarbakır|Hatay|Manisa|Kayseri|Samsun",
		states:  "İstanbul|Ankara|İzmir|Bursa|Antalya|Adana|Konya|Gaziantep|Şanlıurfa|Kocaeli|Mersin|Diyarbakır|Hatay|Manisa|Kayseri|Samsun|Balıkesir|Kahramanmaraş|Van|Aydın|Denizli|Sakarya|Tekirdağ|Muğla|Eskişehir|Trabzon",
		phone:   "(###)-###-####", cell: "(###)-###-####",
		postMin: 10000, postMax: 99999,
	},
	{
		code: "UA", country: "Ukraine",
		male:    "Oleksandr|Andriy|Serhiy|Volodymyr|Dmytro|Mykola|Ivan|Yuriy|Bohdan|Taras|Vasyl|Petro|Oleh|Maksym|Artem|Yaroslav",
		female:  "Olena|Tetyana|Nataliya|Iryna|Svitlana|Oksana|Yuliya|Kateryna|Halyna|Mariya|Anastasiya|Daryna|Sofiya|Viktoriya|Lyudmyla|Zoryana",
		last:    "Melnyk|Shevchenko|Boyko|Kovalenko|Bondarenko|Tkachenko|Kovalchuk|Kravchenko|Oliynyk|Shevchuk|Koval|Polishchuk|Bondar|Tkachuk|Moroz|Marchenko|Lysenko|Rudenko|Savchenko|Petrenko",
		streets: "Khreshchatyk|Shevchenka|Franka|Sadova|Lesi Ukrayinki|Hrushevskoho|Zelena|Shkilna|Naberezhna|Soborna|Tsentralna|Myru",
		cities:  "Kyiv|Kharkiv|Odesa|Dnipro|Zaporizhzhya|Lviv|Kryviy Rih|Mykolayiv|Vinnytsya|Poltava|Chernihiv|Cherkasy|Zhytomyr|Sumy|Rivne|Ivano-Frankivsk",
		states:  "Vinnicka|Volinska|Dnipropetrovska|Zhitomirska|Zakarpatska|Zaporizka|Ivano-Frankivska|Kiyivska|Kirovogradska|Luganska|Lvivska|Mikolayivska|Odeska|Poltavska|Rivnenska|Sumska|Ternopilska|Harkivska|Hersonska|Hmelnicka|Cherkaska|Chernivecka|Chernigivska",
		// The letter after the area code is a quirk of the API's generator.
		phone:   "(066) @##-####|(067) @##-####|(068) @##-####|(096) @##-####|(097) @##-####|(098) @##-####|(099) @##-####",
		cell:    "(066) @##-####|(067) @##-####|(068) @##-####|(096) @##-####|(097) @##-####|(098) @##-####|(099) @##-####",
		postMin: 10000, postMax: 99999,
	},
	{
		code: "US", country: "United States",
		male:    "James|John|Robert|Michael|William|David|Richard|Joseph|Thomas|Charles|Christopher|Daniel|Matthew|Anthony|Mark|Steven",
		female:  "Mary|Patricia|Jennifer|Linda|Elizabeth|Barbara|Susan|Jessica|Sarah|Karen|Nancy|Lisa|Betty|Margaret|Sandra|Ashley",
		last:    "Smith|Johnson|Williams|Brown|Jones|Garcia|Miller|Davis|Rodriguez|Martinez|Hernandez|Lopez|Gonzalez|Wilson|Anderson|Thomas|Taylor|Moore|Jackson|Martin",
		streets: "Main St|Oak Ridge Ln|Pecan Acres Ln|Hickory Creek Dr|Washington Ave|Lakeview St|Elm St|Park Ave|Maple Ave|Cedar St|Sunset St|Valley View Ln|W Dallas St|Mockingbird Ln|Brown Terrace|Railroad St",
		cities:  "New York|Los Angeles|Chicago|Houston|Phoenix|Philadelphia|San Antonio|San Diego|Dallas|San Jose|Austin|Jacksonville|Columbus|Charlotte|Seattle|Denver",
		states:  "Alabama|Alaska|Arizona|Arkansas|California|Colorado|Connecticut|Delaware|Florida|Georgia|Hawaii|Idaho|Illinois|Indiana|Iowa|Kansas|Kentucky|Louisiana|Maine|Maryland|Massachusetts|Michigan|Minnesota|Mississippi|Missouri|Montana|Nebraska|Nevada|New Hampshire|New Jersey|New Mexico|New York|North Carolina|North Dakota|Ohio|Oklahoma|Oregon|Pennsylvania|Rhode Island|South Carolina|South Dakota|Tennessee|Texas|Utah|Vermont|Virginia|Washington|West Virginia|Wisconsin|Wyoming",
		phone:   "(%##) %##-####", cell: "(%##) %##-####",
		postMin: 10000, postMax: 99999, idName: "SSN",
	},
	{
		// The undocumented lego parameter. It has no country field.
		code:    "LEGO",
		male:    "Emmet|Benny|Finn|Rex|Chase|Kai|Lloyd|Cole|Jay|Zane|Bruce|Barry|Clark|Peter|Luke|Han",
		female:  "Wyldstyle|Lucy|Nya|Harumi|Olivia|Emma|Mia|Andrea|Stephanie|Leia|Diana|Wanda|Skylor|Misako|Gail|Kitty",
		last:    "Brickowski|Bricksburg|Stud|Plate|Tile|Baseplate|Minifig|Smith|Garmadon|Walker|Wayne|Kent|Parker|Solo|Prince|Brick",
		streets: "Brick Lane|Stud Street|Baseplate Avenue|Technic Road|Duplo Drive|Minifig Way|Plate Row|Tile Terrace|Hinge Court|Axle Parkway|Gear Lane|Slope Street",
		cities:  "Bricksburg|Billund|Legoland|Ninjago City|Studsville|Heartlake City|Octan Tower|Cloud Cuckoo Land|Duplo Town|Technicville|Minifig Falls|Plate City",
		states:  "Brickshire|Studland|Plate County|Tile Province|Technic State|Duplo Region|Hinge Territory|Axle Valley",
		phone:   "(###)-###-####", cell: "(###)-###-####",
		postMin: 10000, postMax: 99999, idName: "SN",
	},
}

// timezones are the 30 offsets the API can return. Its list has a 31st,
// "+12:00", that is never picked because of how the file is split.
var timezones = [][2]string{
	{"-12:00", "Eniwetok, Kwajalein"},
	{"-11:00", "Midway Island, Samoa"},
	{"-10:00", "Hawaii"},
	{"-9:00", "Alaska"},
	{"-8:00", "Pacific Time (US & Canada)"},
	{"-7:00", "Mountain Time (US & Canada)"},
	{"-6:00", "Central Time (US & Canada), Mexico City"},
	{"-5:00", "Eastern Time (US & Canada), Bogota, Lima"},
	{"-4:00", "Atlantic Time (Canada), Caracas, La Paz"},
	{"-3:30", "Newfoundland"},
	{"-3:00", "Brazil, Buenos Aires, Georgetown"},
	{"-2:00", "Mid-Atlantic"},
	{"-1:00", "Azores, Cape Verde Islands"},
	{"0:00", "Western Europe Time, London, Lisbon, Casablanca"},
	{"+1:00", "Brussels, Copenhagen, Madrid, Paris"},
	{"+2:00", "Kaliningrad, South Africa"},
	{"+3:00", "Baghdad, Riyadh, Moscow, St. Petersburg"},
	{"+3:30", "Tehran"},
	{"+4:00", "Abu Dhabi, Muscat, Baku, Tbilisi"},
	{"+4:30", "Kabul"},
	{"+5:00", "Ekaterinburg, Islamabad, Karachi, Tashkent"},
	{"+5:30", "Bombay, Calcutta, Madras, New Delhi"},
	{"+5:45", "Kathmandu"},
	{"+6:00", "Almaty, Dhaka, Colombo"},
	{"+7:00", "Bangkok, Hanoi, Jakarta"},
	{"+8:00", "Beijing, Perth, Singapore, Hong Kong"},
	{"+9:00", "Tokyo, Seoul, Osaka, Sapporo, Yakutsk"},
	{"+9:30", "Adelaide, Darwin"},
	{"+10:00", "Eastern Australia, Guam, Vladivostok"},
	{"+11:00", "Magadan, Solomon Islands, New Caledonia"},
}

// Usernames are an adjective, an animal and a number from 100 to 999, like
// the API's (23 adjectives, 26 animals).
var (
	adjectives = split("red|blue|green|yellow|purple|orange|black|white|silver|golden|brown|tiny|big|happy|lazy|sad|crazy|heavy|beautiful|ticklish|organic|angry|smart")
	animals    = split("tiger|lion|bear|wolf|fox|rabbit|dog|cat|bird|fish|frog|duck|goose|swan|peacock|koala|panda|elephant|gorilla|monkey|leopard|zebra|butterfly|ladybug|snake|mouse")
)

// commonPasswords stand in for the API's list of 7,547 common passwords,
// used when the password parameter is absent.
var commonPasswords = split("password|123456|qwerty|letmein|dragon|monkey|football|baseball|sunshine|princess|welcome|shadow|master|superman|batman|trustno1|iloveyou|starwars|hello|freedom|whatever|michael|jessica|charlie|donald|pepper|ginger|summer|hunter|buster|soccer|harley|hockey|killer|george|tigger|cheese|computer|maggie|jordan|thomas|matrix|banana|coffee|cookie|flower|orange|purple|silver|yellow|pass1234|abc123|111111|1616|admin|love|secret|access|ranger|blowfish|cowboy|eagles|fishing|golfer|hammer|jaguar|knight|lakers|mustang|nascar|panther|rainbow|scooter|thunder|viking|wizard|yankees|zxcvbn|cccc|mother|angel1|bubbles")
